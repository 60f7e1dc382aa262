"""From an outbox event to the messages it asks for: pure rules, no ports.

One message per event x channel x recipient, named by its dedupe key, so planning the same
event twice plans the same keys and the store keeps the first. Who hears about what:

- account mails (verification, reset, "you already have an account") go to the user, by email
  only: a link that proves an address or resets a password is never sent anywhere else;
- booking mails go to the customer; the provider's staff get copies of confirmations,
  cancellations and reschedules;
- a refund goes to the customer;
- email is planned for every recipient the consent policy allows it for (transactional: always),
  SUPPRESSED when the address hard-bounced; WhatsApp in addition when the policy allows it
  (today: the person opted in and gave a phone number).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import attrs

from core.messaging.model import Channel, Message, MessageId, MessageKind, MessageStatus, Purpose
from core.messaging.ports import Person
from core.shared.events import Event
from core.shared.ids import BookingId, EventId, ProviderId, UserId

EMAIL_VERIFICATION_REQUESTED = "identity.email_verification_requested"
PASSWORD_RESET_REQUESTED = "identity.password_reset_requested"  # noqa: S105 (an event name)
EXISTING_ACCOUNT_REGISTRATION_ATTEMPTED = "identity.existing_account_registration_attempted"
SLOT_HELD = "bookings.slot_held"
BOOKING_CONFIRMED = "bookings.booking_confirmed"
BOOKING_CANCELLED = "bookings.booking_cancelled"
BOOKING_RESCHEDULED = "bookings.booking_rescheduled"  # the old side of a reschedule
REFUND_SUCCEEDED = "payments.refund_succeeded"

_BY_NAME = {
    EMAIL_VERIFICATION_REQUESTED: MessageKind.EMAIL_VERIFICATION,
    PASSWORD_RESET_REQUESTED: MessageKind.PASSWORD_RESET,
    EXISTING_ACCOUNT_REGISTRATION_ATTEMPTED: MessageKind.EXISTING_ACCOUNT,
    BOOKING_CONFIRMED: MessageKind.BOOKING_CONFIRMED,
    BOOKING_CANCELLED: MessageKind.BOOKING_CANCELLED,
    REFUND_SUCCEEDED: MessageKind.REFUND_ISSUED,
}

ACCOUNT_KINDS = frozenset(
    {MessageKind.EMAIL_VERIFICATION, MessageKind.PASSWORD_RESET, MessageKind.EXISTING_ACCOUNT}
)
# Booking messages the provider's staff get a copy of.
STAFF_COPIES = frozenset(
    {
        MessageKind.BOOKING_CONFIRMED,
        MessageKind.BOOKING_CANCELLED,
        MessageKind.BOOKING_RESCHEDULED,
    }
)
BOOKING_KINDS = frozenset(MessageKind) - ACCOUNT_KINDS


def kind_of(event: Event) -> MessageKind | None:
    """The message an event asks for, if any."""
    if event.name == SLOT_HELD:
        if event.payload.get("rescheduled_from"):
            return MessageKind.BOOKING_RESCHEDULED
        return MessageKind.BOOKING_HELD
    return _BY_NAME.get(event.name)


def purpose_of(kind: MessageKind) -> Purpose:
    return Purpose.REMINDERS if kind is MessageKind.REMINDER else Purpose.TRANSACTIONAL


def channels_for(kind: MessageKind) -> tuple[Channel, ...]:
    """The channels a kind may ever use (consent narrows them per person)."""
    if kind in ACCOUNT_KINDS:
        return (Channel.EMAIL,)
    return (Channel.EMAIL, Channel.WHATSAPP)


def uuid_in(payload: dict[str, object], key: str) -> uuid.UUID | None:
    value = payload.get(key)
    if not isinstance(value, str) or not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def event_booking(event: Event) -> BookingId | None:
    found = uuid_in(event.payload, "booking_id")
    return BookingId(found) if found else None


def event_user(payload: dict[str, object]) -> UserId | None:
    """The person an account or refund event is about."""
    found = uuid_in(payload, "user_id") or uuid_in(payload, "customer_id")
    return UserId(found) if found else None


def event_dedupe_key(event_id: EventId, channel: Channel, recipient: UserId) -> str:
    return f"{event_id}:{channel}:{recipient}"


def reminder_dedupe_key(
    booking_id: BookingId, offset_minutes: int, channel: Channel, recipient: UserId
) -> str:
    return f"reminder:{booking_id}:{offset_minutes}:{channel}:{recipient}"


def resend_dedupe_key(original: MessageId, n: int) -> str:
    return f"resend:{original}:{n}"


def reminder_offset(dedupe_key: str) -> int | None:
    """The offset (minutes) a reminder's key names; None for other keys."""
    parts = dedupe_key.split(":")
    if len(parts) == 5 and parts[0] == "reminder" and parts[2].isdigit():
        return int(parts[2])
    return None


def resent_from(dedupe_key: str) -> MessageId | None:
    """The message a resend copies; None for other keys."""
    parts = dedupe_key.split(":")
    if len(parts) == 3 and parts[0] == "resend":
        try:
            return MessageId(uuid.UUID(parts[1]))
        except ValueError:
            return None
    return None


@attrs.frozen(kw_only=True)
class Target:
    """One recipient on one channel, as planning needs it resolved from the ports."""

    person: Person
    channel: Channel
    address: str  # the email address, or the E.164 phone
    suppressed: bool = False  # the address hard-bounced: the message is kept, never sent


@attrs.frozen(kw_only=True)
class Plan:
    """What a message is about, shared by all its targets."""

    kind: MessageKind
    event_id: EventId | None = None
    booking_id: BookingId | None = None
    provider_id: ProviderId | None = None
    reminder_offset_minutes: int | None = None


def dedupe_key(plan: Plan, target: Target) -> str:
    recipient = target.person.user_id
    if plan.kind is MessageKind.REMINDER:
        assert plan.booking_id is not None
        assert plan.reminder_offset_minutes is not None
        return reminder_dedupe_key(
            plan.booking_id, plan.reminder_offset_minutes, target.channel, recipient
        )
    assert plan.event_id is not None
    return event_dedupe_key(plan.event_id, target.channel, recipient)


def plan_messages(plan: Plan, targets: Sequence[Target], now: datetime) -> list[Message]:
    """One message per target: QUEUED, or SUPPRESSED for an undeliverable address. Targets
    with the same key (a staff member who is also the customer) give one message."""
    planned: dict[str, Message] = {}
    for target in targets:
        key = dedupe_key(plan, target)
        if key in planned:
            continue
        planned[key] = Message(
            id=MessageId(uuid.uuid4()),
            dedupe_key=key,
            kind=plan.kind,
            channel=target.channel,
            recipient_id=target.person.user_id,
            address=target.address,
            locale=target.person.preferences.locale,
            event_id=plan.event_id,
            booking_id=plan.booking_id,
            provider_id=plan.provider_id,
            status=MessageStatus.SUPPRESSED if target.suppressed else MessageStatus.QUEUED,
            last_error="address undeliverable" if target.suppressed else None,
            created_at=now,
            updated_at=now,
        )
    return list(planned.values())
