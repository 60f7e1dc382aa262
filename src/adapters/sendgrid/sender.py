"""`SendGridEmailSender`: v3 mail send through the official SDK, and `find` through the Email
Activity API, for the send job's crash recovery.

The SDK is synchronous (urllib underneath), so every call runs in a worker thread and the
event loop of the job worker keeps running. Each mail carries our message id as the custom arg
`reserva_message_id` (SendGrid echoes it in every event, and the Email Activity API can search
by it) and the message kind as its category. `forget` (erasure) deletes an address from the
suppression lists (`DELETE /v3/suppression/{bounces|blocks|spam_reports|invalid_emails}/{email}`);
SendGrid's Email Activity has no deletion and keeps sent mail's metadata for its retention
period (30 days on most plans).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import re
from base64 import b64encode
from typing import Any
from urllib.parse import quote

import sendgrid
from python_http_client.exceptions import HTTPError
from sendgrid.helpers.mail import (
    Attachment,
    Category,
    CustomArg,
    Disposition,
    FileContent,
    FileName,
    FileType,
    From,
    Mail,
    To,
)
from sendgrid.helpers.mail.exceptions import SendGridException

from core.messaging.model import MessageId, SendFailedTemporarily, SendReceipt, SendRefused
from core.messaging.ports import EmailSender, OutgoingEmail

SENDGRID_API_BASE = "https://api.sendgrid.com"
MESSAGE_ID_ARG = "reserva_message_id"  # the custom arg carrying our MessageId
_SUFFIX = re.compile(r"\.(filter|recvd)")
SUPPRESSION_LISTS = ("bounces", "blocks", "spam_reports", "invalid_emails")


def x_message_id(sg_message_id: str) -> str:
    """The X-Message-Id a mail send answered, from an event's or the activity's msg_id
    ("<X-Message-Id>.filterdrecv-...")."""
    return _SUFFIX.split(sg_message_id, maxsplit=1)[0]


SDK_LOGGER = "python_http_client"


class SendGridEmailSender(EmailSender):
    """Sends from `sender_email` (named `sender_name`) with `api_key`; `base_url` points the
    SDK elsewhere (the local fake). Each HTTP call gives up after `timeout` seconds."""

    def __init__(
        self,
        api_key: str,
        sender_email: str,
        sender_name: str | None = None,
        *,
        base_url: str = SENDGRID_API_BASE,
        timeout: float = 10.0,
    ) -> None:
        # The SDK's HTTP client logs every request at DEBUG: the recipient and the mail (its
        # one-time link), a forgotten address in the URL, the Authorization header (the API
        # key). Held at WARNING wherever this adapter runs, not only where the entrypoint
        # configured logging (docs/privacy.md: logs hold no personal data).
        logging.getLogger(SDK_LOGGER).setLevel(logging.WARNING)
        self._sendgrid = sendgrid.SendGridAPIClient(api_key=api_key, host=base_url.rstrip("/"))
        self._sender = From(sender_email, sender_name)
        self._timeout = timeout

    def mail(self, email: OutgoingEmail) -> Mail:
        """The SDK's Mail for `email` (text first, then HTML, as SendGrid wants)."""
        mail = Mail(
            from_email=self._sender,
            to_emails=To(email.to),
            subject=email.rendered.subject,
            plain_text_content=email.rendered.text,
            html_content=email.rendered.html,
        )
        mail.add_category(Category(email.category))
        mail.add_custom_arg(CustomArg(MESSAGE_ID_ARG, str(email.message_id)))
        for attachment in email.attachments:
            mail.add_attachment(
                Attachment(
                    FileContent(b64encode(attachment.data).decode("ascii")),
                    FileName(attachment.filename),
                    # SendGrid refuses parameters in the type ("text/calendar; method=REQUEST"):
                    # the method is inside the .ics too (METHOD:...).
                    FileType(attachment.content_type.split(";", 1)[0].strip()),
                    Disposition("attachment"),
                )
            )
        return mail

    async def send(self, email: OutgoingEmail) -> SendReceipt | SendRefused:
        try:
            body = self.mail(email).get()
        except SendGridException as error:  # e.g. a text that starts like an API key
            return SendRefused(reason=f"the SendGrid SDK refused the mail: {error!r}")
        return await asyncio.to_thread(self._send, body)

    async def find(self, message_id: MessageId) -> SendReceipt | None:
        return await asyncio.to_thread(self._find, message_id)

    async def forget(self, address: str) -> None:
        await asyncio.to_thread(self._forget, address)

    def _forget(self, address: str) -> None:
        segment = quote(address.strip(), safe="@")
        for listed in SUPPRESSION_LISTS:
            endpoint = getattr(self._sendgrid.client.suppression, listed)._(segment)
            try:
                endpoint.delete(timeout=self._timeout)
            except HTTPError as error:
                if int(error.status_code) == 404:  # not on that list: nothing to delete
                    continue
                # No address in the error: it may end up in job records.
                raise SendFailedTemporarily(
                    f"SendGrid's {listed} suppression list answered {error.status_code}"
                ) from None
            except (OSError, http.client.HTTPException) as error:
                raise SendFailedTemporarily(
                    f"SendGrid unreachable: {type(error).__name__}"
                ) from None

    def _send(self, body: dict[str, Any]) -> SendReceipt | SendRefused:
        try:
            response = self._sendgrid.client.mail.send.post(
                request_body=body, timeout=self._timeout
            )
        except HTTPError as error:
            status = int(error.status_code)
            if status == 429 or status >= 500:
                raise SendFailedTemporarily(f"SendGrid answered {status}") from error
            return SendRefused(reason=f"SendGrid answered {status}: {_errors(error.body)}")
        except (OSError, http.client.HTTPException) as error:  # refused, reset, timed out
            raise SendFailedTemporarily(f"SendGrid unreachable: {error!r}") from error
        provider_id = response.headers.get("X-Message-Id")
        if not provider_id:
            # Accepted but unnamed: the retry asks `find` first, which finds it by our id.
            raise SendFailedTemporarily("SendGrid accepted the mail without an X-Message-Id")
        return SendReceipt(provider_message_id=str(provider_id))

    def _find(self, message_id: MessageId) -> SendReceipt | None:
        query = f"unique_args['{MESSAGE_ID_ARG}']=\"{message_id}\""
        try:
            response = self._sendgrid.client.messages.get(
                query_params={"query": query, "limit": 1}, timeout=self._timeout
            )
            found = json.loads(response.body or b"{}").get("messages") or []
        except HTTPError as error:
            raise SendFailedTemporarily(
                f"SendGrid's Email Activity answered {error.status_code}: {_errors(error.body)}"
            ) from error
        except (OSError, http.client.HTTPException, ValueError) as error:
            raise SendFailedTemporarily(f"SendGrid's Email Activity failed: {error!r}") from error
        if not found:
            return None
        return SendReceipt(provider_message_id=x_message_id(str(found[0]["msg_id"])))


def _errors(body: bytes | str | None) -> str:
    """SendGrid's {"errors": [{"message", "field"}]} as one line."""
    try:
        errors = json.loads(body or b"{}").get("errors") or []
        text = "; ".join(
            f"{e['field']}: {e['message']}" if e.get("field") else str(e.get("message"))
            for e in errors
        )
    except (ValueError, AttributeError, TypeError):
        text = repr(body)
    return text[:500] or "(no details)"
