"""Providers' reports about our messages: SendGrid's Event Webhook and WhatsApp's webhooks.

A body is applied only when its signature verifies (else WebhookNotVerified, which a transport
answers with 401, and nothing changes). Each report moves its message forward only
(`Messages.advance`), so reports arriving late, twice or out of order never undo a later
status. A hard bounce marks the address undeliverable; an inbound WhatsApp message opens the
sender's 24-hour service window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs
from returns.result import Failure, Result, Success

from core.messaging.errors import WebhookNotVerified
from core.messaging.model import Message, StatusReport
from core.messaging.ports import EmailEvents, MessagingUnitOfWork, WhatsAppEvents
from core.shared.time import Clock
from core.shared.unit_of_work import MAINTENANCE, UnitOfWorkFactory
from core.shared.use_case import UseCase


@attrs.frozen(kw_only=True)
class Recorded:
    reports: int  # how many reports the body held
    advanced: tuple[Message, ...] = ()  # the messages a report moved forward
    undeliverable: tuple[str, ...] = ()  # addresses marked by a hard bounce
    windows_opened: int = 0


async def _apply(
    uow: MessagingUnitOfWork, reports: Sequence[StatusReport]
) -> tuple[list[Message], list[str]]:
    advanced: list[Message] = []
    marked: list[str] = []
    for report in reports:
        moved = await uow.messages.advance(report)
        if moved is not None:
            advanced.append(moved)
        if report.hard_bounce:
            message = moved or await _find(uow, report)
            if (
                message is not None
                and message.address is not None
                and message.address not in marked
            ):
                await uow.undeliverable.mark(message.address, report.detail or "bounce", report.at)
                marked.append(message.address)
    return advanced, marked


async def _find(uow: MessagingUnitOfWork, report: StatusReport) -> Message | None:
    if report.message_id is not None:
        found = await uow.messages.get(report.message_id)
        if found is not None:
            return found
    if report.provider_message_id is not None:
        return await uow.messages.by_provider_id(report.provider_message_id)
    return None


@attrs.frozen(kw_only=True)
class RecordEmailReports(UseCase):
    """POST /webhooks/sendgrid: the raw body and its headers."""

    uow: UnitOfWorkFactory[MessagingUnitOfWork]
    clock: Clock
    email_events: EmailEvents

    async def __call__(
        self, body: bytes, headers: Mapping[str, str]
    ) -> Result[Recorded, WebhookNotVerified]:
        reports = self.email_events.reports(body, headers, self.clock.now())
        if reports is None:
            return Failure(WebhookNotVerified())
        async with self.uow(MAINTENANCE) as uow:
            advanced, marked = await _apply(uow, reports)
            await uow.commit()
        return Success(
            Recorded(reports=len(reports), advanced=tuple(advanced), undeliverable=tuple(marked))
        )


@attrs.frozen(kw_only=True)
class RecordWhatsAppNotice(UseCase):
    """POST /webhooks/whatsapp: the raw body and its headers (X-Hub-Signature-256)."""

    uow: UnitOfWorkFactory[MessagingUnitOfWork]
    whatsapp_events: WhatsAppEvents

    async def __call__(
        self, body: bytes, headers: Mapping[str, str]
    ) -> Result[Recorded, WebhookNotVerified]:
        notice = self.whatsapp_events.notice(body, headers)
        if notice is None:
            return Failure(WebhookNotVerified())
        async with self.uow(MAINTENANCE) as uow:
            advanced, marked = await _apply(uow, notice.reports)
            for phone, at in notice.inbound:
                await uow.windows.opened(phone, at)
            await uow.commit()
        return Success(
            Recorded(
                reports=len(notice.reports),
                advanced=tuple(advanced),
                undeliverable=tuple(marked),
                windows_opened=len(notice.inbound),
            )
        )


@attrs.frozen(kw_only=True)
class ConfirmWhatsAppSubscription(UseCase):
    """GET /webhooks/whatsapp: Meta's verification handshake. The challenge to echo, or
    WebhookNotVerified (answer 401/403) when the verify token is not ours."""

    whatsapp_events: WhatsAppEvents

    async def __call__(
        self, mode: str, verify_token: str, challenge: str
    ) -> Result[str, WebhookNotVerified]:
        echoed = self.whatsapp_events.handshake(mode, verify_token, challenge)
        return Failure(WebhookNotVerified()) if echoed is None else Success(echoed)
