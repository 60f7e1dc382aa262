"""The `send_message` job: one message to its provider, at most once in effect.

The protocol (a crash may strike between any two steps):

1. QUEUED: compose it from fresh reads, mark it SENDING (attempts + 1) and commit;
2. call the provider;
3. record SENT with the provider's message id (or FAILED when refused) and commit.

A message found SENT or beyond is left alone. A message found SENDING was interrupted between
1 and 3: the provider may have it. Email asks the provider (`EmailSender.find`, by our message
id) and records what it says, sending again only if it has nothing. WhatsApp has no such
lookup, but its status webhooks echo our id within seconds of accepting a message: the job
waits (retrying) for `STATUS_REPORT_WAIT` after the interrupted attempt, and when no report has
moved the message by then (or on the job's last attempt), WhatsApp never had it and it is sent
again — late, never lost. A
temporary failure (SendFailedTemporarily) puts the message back to QUEUED and re-raises so
the job retries with back-off; on the final attempt the message becomes FAILED first.

Every write is a compare-and-set on the status this job read (`Messages.update(...,
expected=)`), because a provider's status report (`Messages.advance`, its own transaction) may
commit between our read and our write: the provider can deliver a mail before its HTTP answer
reaches us. When the compare fails the job reads the message again and decides afresh:

- marking SENDING (or giving up as SUPPRESSED/FAILED) finds it moved on: the job does nothing
  more and sends nothing (someone else holds it, or the provider already has it);
- recording SENT finds it DELIVERED/READ/BOUNCED/...: that status stays (statuses never move
  back) and only the provider's message id is filled in when the report did not carry it;
- recording FAILED (refused) or the retry's QUEUED finds it moved on: the report's word stays.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import attrs
from returns.result import Failure, Result, Success

from core.messaging.calendar import WITH_CALENDAR, entry_of, ics_filename
from core.messaging.model import (
    CalendarMethod,
    Channel,
    Message,
    MessageId,
    MessageKind,
    MessageStatus,
    SendFailedTemporarily,
    SendReceipt,
    SendRefused,
)
from core.messaging.planning import ACCOUNT_KINDS, reminder_offset, resent_from
from core.messaging.ports import (
    Attachment,
    CalendarWriter,
    Content,
    EmailSender,
    Links,
    MessagingUnitOfWork,
    OutgoingEmail,
    OutgoingWhatsApp,
    Renderer,
    WhatsAppSender,
)
from core.messaging.reminders import reminder_is_due
from core.shared.errors import NotFound
from core.shared.keyring import Keyring, SealBroken
from core.shared.mailed_tokens import open_mailed_token
from core.shared.time import Clock
from core.shared.unit_of_work import MAINTENANCE, UnitOfWorkFactory
from core.shared.use_case import UseCase

SERVICE_WINDOW = timedelta(hours=24)  # WhatsApp: free text only this long after an inbound
# WhatsApp reports "sent" within seconds of accepting a message; none after this long means it
# never had the interrupted one.
STATUS_REPORT_WAIT = timedelta(minutes=10)
INTERRUPTED = "interrupted mid-send: waiting for WhatsApp's status report before sending again"


@attrs.frozen
class _Unsendable:
    reason: str
    status: MessageStatus  # SUPPRESSED (nothing to say any more) or FAILED (cannot be built)


Outgoing = OutgoingEmail | OutgoingWhatsApp
# Reads between two failed compares: each failure means another writer moved the message, and
# statuses only move forward, so a handful suffices; past it the last read stands.
MAX_COMPARES = len(MessageStatus) + 1


def _sent(message: Message, receipt: SendReceipt, now: datetime) -> Message | None:
    """SENT with the provider's id. A message a report already moved on keeps its status
    (and its last_error: a bounce's reason) and only gains the provider's id if it had none;
    None when there is nothing to write."""
    if message.status.rank >= MessageStatus.SENT.rank:
        if message.provider_message_id is not None:
            return None
        return attrs.evolve(
            message, provider_message_id=receipt.provider_message_id, updated_at=now
        )
    return attrs.evolve(
        message,
        status=MessageStatus.SENT,
        provider_message_id=message.provider_message_id or receipt.provider_message_id,
        last_error=None,
        updated_at=now,
    )


async def _reread(uow: MessagingUnitOfWork, message: Message) -> Message:
    """The message as stored now; the one read before if it is gone (its recipient was erased
    meanwhile: erasure deletes their messages, and nothing is left to write)."""
    current = await uow.messages.get(message.id)
    return current if current is not None else message


async def _write(
    uow: MessagingUnitOfWork,
    message: Message,
    change: Callable[[Message], Message | None],
) -> Message:
    """Write `change(message)` compared against the status read; when another writer got in
    between, read again and apply `change` to what it left. `change` returns None when there
    is nothing to write. The message as stored (as far as this transaction knows)."""
    current = message
    for _ in range(MAX_COMPARES):
        changed = change(current)
        if changed is None:
            return current
        if await uow.messages.update(changed, expected=current.status):
            return changed
        current = await _reread(uow, current)
    return current


@attrs.frozen(kw_only=True)
class SendMessage(UseCase):
    """Send one message (see the module's protocol). The message as it was left; NotFound
    for an unknown id. Raises SendFailedTemporarily when the job should retry.

    Every write compares the status it read (see the module): a status report that commits
    in between is never overwritten; recording SENT after a report moved the message to
    DELIVERED (or beyond) keeps that status and only fills in a missing provider id."""

    uow: UnitOfWorkFactory[MessagingUnitOfWork]
    clock: Clock
    keyring: Keyring
    renderer: Renderer
    calendar_writer: CalendarWriter
    links: Links
    email: EmailSender
    whatsapp: WhatsAppSender

    async def __call__(
        self, message_id: MessageId, final_attempt: bool = False
    ) -> Result[Message, NotFound]:
        now = self.clock.now()
        async with self.uow(MAINTENANCE) as uow:
            message = await uow.messages.get(message_id)
            if message is None:
                return Failure(NotFound(kind="message", id=str(message_id)))
            if message.status not in (MessageStatus.QUEUED, MessageStatus.SENDING):
                return Success(message)
            if message.status is MessageStatus.SENDING:
                settled = await self._settle_interrupted(uow, message, now, final_attempt)
                if settled is not None:
                    await uow.commit()
                    return Success(settled)
            outgoing = await self._compose(uow, message, now)
            if isinstance(outgoing, _Unsendable):
                given_up = attrs.evolve(
                    message, status=outgoing.status, last_error=outgoing.reason, updated_at=now
                )
                if not await uow.messages.update(given_up, expected=message.status):
                    return Success(await _reread(uow, message))  # moved on meanwhile: keep it
                await uow.commit()
                return Success(given_up)
            sending = attrs.evolve(
                message,
                status=MessageStatus.SENDING,
                attempts=message.attempts + 1,
                updated_at=now,
            )
            if not await uow.messages.update(sending, expected=message.status):
                # A report or another attempt moved it since our read: not ours to send.
                return Success(await _reread(uow, message))
            await uow.commit()
        try:
            outcome = await self._send(outgoing)
        except SendFailedTemporarily as error:
            await self._failed_for_now(
                message_id, f"{type(error).__name__}: {error}", final_attempt
            )
            raise
        recorded = await self._record(message_id, outcome)
        if recorded is None:  # its recipient was erased while the provider had it
            return Failure(NotFound(kind="message", id=str(message_id)))
        return Success(recorded)

    async def _settle_interrupted(
        self, uow: MessagingUnitOfWork, message: Message, now: datetime, final_attempt: bool
    ) -> Message | None:
        """A message left SENDING: what the provider says, or None to send it (again).
        Raises SendFailedTemporarily while WhatsApp's status report may still come."""
        if message.channel is Channel.EMAIL:
            receipt = await self.email.find(message.id)
            if receipt is None:
                return None  # the provider never had it: send
            return await _write(uow, message, lambda current: _sent(current, receipt, now))
        if final_attempt or now - message.updated_at >= STATUS_REPORT_WAIT:
            return None  # no report came: WhatsApp never had it, send
        raise SendFailedTemporarily(INTERRUPTED)

    async def _send(self, outgoing: Outgoing) -> SendReceipt | SendRefused:
        if isinstance(outgoing, OutgoingEmail):
            return await self.email.send(outgoing)
        return await self.whatsapp.send(outgoing)

    async def _failed_for_now(self, message_id: MessageId, error: str, final: bool) -> None:
        """Back to QUEUED for the retry (the provider refused it: it has nothing), or FAILED
        on the last attempt."""
        now = self.clock.now()
        status = MessageStatus.FAILED if final else MessageStatus.QUEUED

        def failed(current: Message) -> Message | None:
            if current.status is not MessageStatus.SENDING:
                return None  # a report moved it on: the provider has it after all
            return attrs.evolve(current, status=status, last_error=error, updated_at=now)

        async with self.uow(MAINTENANCE) as uow:
            message = await uow.messages.get(message_id)
            if message is None:
                return
            await _write(uow, message, failed)
            await uow.commit()

    async def _record(
        self, message_id: MessageId, outcome: SendReceipt | SendRefused
    ) -> Message | None:
        now = self.clock.now()

        def recorded(current: Message) -> Message | None:
            if isinstance(outcome, SendReceipt):
                return _sent(current, outcome, now)
            if current.status is MessageStatus.SENDING:
                return attrs.evolve(
                    current, status=MessageStatus.FAILED, last_error=outcome.reason, updated_at=now
                )
            return None  # refused, yet a report moved it on: the report's word stays

        async with self.uow(MAINTENANCE) as uow:
            message = await uow.messages.get(message_id)
            if message is None:  # erased mid-send (erasure deletes a person's messages)
                return None
            written = await _write(uow, message, recorded)
            await uow.commit()
        return written

    # --- composing ---------------------------------------------------------------------------

    async def _compose(
        self, uow: MessagingUnitOfWork, message: Message, now: datetime
    ) -> Outgoing | _Unsendable:
        if message.address is None:
            return _Unsendable("its recipient was erased", MessageStatus.SUPPRESSED)
        address = message.address
        content = await self._content(uow, message, now)
        if isinstance(content, _Unsendable):
            return content
        if message.channel is Channel.WHATSAPP:
            last = await uow.windows.last_inbound(address)
            if last is not None and now - last < SERVICE_WINDOW:
                return OutgoingWhatsApp(
                    message_id=message.id,
                    to=address,
                    text=self.renderer.whatsapp_text(content),
                )
            return OutgoingWhatsApp(
                message_id=message.id,
                to=address,
                template=self.renderer.whatsapp_template(content),
            )
        attachments: tuple[Attachment, ...] = ()
        if content.booking is not None and message.kind in WITH_CALENDAR:
            attachments = (await self._ics(uow, message.kind, content, now),)
        return OutgoingEmail(
            message_id=message.id,
            to=address,
            rendered=self.renderer.email(content),
            category=message.kind.value,
            attachments=attachments,
        )

    async def _ics(
        self, uow: MessagingUnitOfWork, kind: MessageKind, content: Content, now: datetime
    ) -> Attachment:
        facts = content.booking
        assert facts is not None
        cancelled = kind is MessageKind.BOOKING_CANCELLED
        method = CalendarMethod.CANCEL if cancelled else CalendarMethod.REQUEST
        uid, sequence = await uow.calendar.next(facts.booking_id, facts.rescheduled_from)
        entry = entry_of(facts, uid, sequence, now, cancelled=cancelled, link=content.link or None)
        return Attachment(
            filename=ics_filename(kind),
            content_type=f"text/calendar; method={method}",
            data=self.calendar_writer.write([entry], method),
        )

    async def _content(
        self, uow: MessagingUnitOfWork, message: Message, now: datetime
    ) -> Content | _Unsendable:
        person = await uow.people.get(message.recipient_id) if message.recipient_id else None
        name = person.display_name if person else None
        event = await uow.events.get(message.event_id) if message.event_id else None
        if message.kind in ACCOUNT_KINDS:
            if event is None:
                return _Unsendable("its event is gone", MessageStatus.FAILED)
            link = None
            if message.kind is not MessageKind.EXISTING_ACCOUNT:
                try:
                    token = await open_mailed_token(self.keyring, event)
                except (SealBroken, KeyError, ValueError) as error:
                    return _Unsendable(
                        f"the mailed token did not open: {error}", MessageStatus.FAILED
                    )
                if message.kind is MessageKind.EMAIL_VERIFICATION:
                    link = self.links.verify_email(token)
                else:
                    link = self.links.reset_password(token)
            return Content(kind=message.kind, locale=message.locale, recipient_name=name, link=link)
        facts = await uow.bookings.facts(message.booking_id) if message.booking_id else None
        if facts is None:
            return _Unsendable("the booking is gone", MessageStatus.SUPPRESSED)
        offset = None
        if message.kind is MessageKind.REMINDER:
            if not reminder_is_due(facts.status, facts.starts, now):
                return _Unsendable(
                    "the booking is not confirmed or has started", MessageStatus.SUPPRESSED
                )
            offset = await _reminder_offset(uow, message)
        refund_minor = currency = None
        if message.kind is MessageKind.REFUND_ISSUED and event is not None:
            refund = event.payload.get("refund_minor")
            refund_minor = refund if isinstance(refund, int) else None
            code = event.payload.get("currency")
            currency = code if isinstance(code, str) else None
        return Content(
            kind=message.kind,
            locale=message.locale,
            recipient_name=name,
            booking=facts,
            link=self.links.booking(facts.booking_id),
            refund_minor=refund_minor,
            currency=currency,
            reminder_before_minutes=offset,
            for_provider=message.recipient_id != facts.customer_id,
        )


async def _reminder_offset(uow: MessagingUnitOfWork, message: Message) -> int | None:
    """A reminder's offset, from its key (a resend's: from the message it copies)."""
    seen = 0
    current: Message | None = message
    while current is not None and seen < 100:
        found = reminder_offset(current.dedupe_key)
        if found is not None:
            return found
        original = resent_from(current.dedupe_key)
        current = await uow.messages.get(original) if original else None
        seen += 1
    return None
