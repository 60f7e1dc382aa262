"""`WhatsAppCloudSender`: messages through the WhatsApp Cloud API (Graph API) over httpx.

`POST {base}/{version}/{phone_number_id}/messages` with the access token as bearer: a template
(name, language, body parameters) outside the 24-hour customer-service window, free text inside
it. Our message id rides along as `biz_opaque_callback_data`, which every status webhook of the
message echoes.
"""

from __future__ import annotations

from typing import Any

import httpx

from core.messaging.model import SendFailedTemporarily, SendReceipt, SendRefused
from core.messaging.ports import OutgoingWhatsApp, WhatsAppSender

GRAPH_API_BASE = "https://graph.facebook.com"
GRAPH_API_VERSION = "v21.0"
RE_ENGAGEMENT = 131047  # free text outside the service window
# Graph error codes that a later try may get through: throttling and Meta's own trouble.
TEMPORARY_CODES = {1, 2, 4, 17, 80007, 130429, 131000, 131016, 131048, 131056, 133004}


class WhatsAppCloudSender(WhatsAppSender):
    def __init__(
        self,
        access_token: str,
        phone_number_id: str,
        *,
        base_url: str = GRAPH_API_BASE,
        api_version: str = GRAPH_API_VERSION,
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not access_token.strip() or not phone_number_id.strip():
            raise ValueError("the WhatsApp access token and phone number id must not be empty")
        self._url = f"{base_url.rstrip('/')}/{api_version}/{phone_number_id}/messages"
        self._headers = {"Authorization": f"Bearer {access_token}"}
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._owns_client = client is None

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    @staticmethod
    def body(message: OutgoingWhatsApp) -> dict[str, Any]:
        """The Cloud API request for `message` (exactly one of template and text is set)."""
        if (message.template is None) == (message.text is None):
            raise ValueError("a WhatsApp message is either a template or a text")
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": message.to,
            "biz_opaque_callback_data": str(message.message_id),
        }
        if message.template is not None:
            template: dict[str, Any] = {
                "name": message.template.name,
                "language": {"code": message.template.language},
            }
            if message.template.parameters:
                parameters = [{"type": "text", "text": p} for p in message.template.parameters]
                template["components"] = [{"type": "body", "parameters": parameters}]
            body |= {"type": "template", "template": template}
        else:
            body |= {"type": "text", "text": {"preview_url": False, "body": message.text}}
        return body

    async def send(self, message: OutgoingWhatsApp) -> SendReceipt | SendRefused:
        try:
            response = await self._client.post(
                self._url, json=self.body(message), headers=self._headers
            )
        except httpx.HTTPError as error:  # refused, reset, timed out
            raise SendFailedTemporarily(f"WhatsApp unreachable: {error!r}") from error
        if response.is_success:
            try:
                return SendReceipt(provider_message_id=str(response.json()["messages"][0]["id"]))
            except (ValueError, KeyError, IndexError, TypeError) as error:
                raise SendFailedTemporarily(f"WhatsApp answered {response.text[:200]!r}") from error
        code, text = _error(response)
        if response.status_code == 429 or response.status_code >= 500 or code in TEMPORARY_CODES:
            raise SendFailedTemporarily(f"WhatsApp answered {response.status_code}: {text}")
        return SendRefused(reason=f"WhatsApp answered {response.status_code}: {text}"[:500])


def _error(response: httpx.Response) -> tuple[int | None, str]:
    """The Graph error's code and a one-line description."""
    try:
        error = response.json()["error"]
        code = int(error["code"])
        details = (error.get("error_data") or {}).get("details")
        return code, f"({code}) {error.get('message', '')}" + (f": {details}" if details else "")
    except (ValueError, KeyError, TypeError):
        return None, response.text[:200] or "(no body)"
