"""The pure planning rules: which events speak to whom, on which channel, under which key."""

from __future__ import annotations

import uuid
from datetime import timedelta

from messaging_support import NOW, booking_event, world

from core.messaging import (
    Channel,
    ContactPreferences,
    DefaultConsentPolicy,
    MessageKind,
    MessageStatus,
    Person,
    Purpose,
    kind_of,
)
from core.messaging.planning import (
    Plan,
    Target,
    plan_messages,
    reminder_dedupe_key,
    reminder_offset,
    resend_dedupe_key,
    resent_from,
)
from core.shared.events import Event
from core.shared.ids import BookingId, EventId, UserId


def test_every_event_that_speaks_has_its_kind() -> None:
    app = world()
    facts = app.booking(UserId(uuid.uuid4()), starts=NOW + timedelta(days=3))
    moved = app.booking(
        facts.customer_id, starts=NOW + timedelta(days=4), rescheduled_from=facts.booking_id
    )
    account = {"user_id": str(uuid.uuid4()), "email": "a@example.com"}

    def account_event(name: str) -> Event:
        return Event(name=f"identity.{name}", occurred_at=NOW, payload=account)

    cases = [
        (account_event("email_verification_requested"), MessageKind.EMAIL_VERIFICATION),
        (account_event("password_reset_requested"), MessageKind.PASSWORD_RESET),
        (account_event("existing_account_registration_attempted"), MessageKind.EXISTING_ACCOUNT),
        (booking_event("slot_held", facts), MessageKind.BOOKING_HELD),
        (booking_event("slot_held", moved), MessageKind.BOOKING_RESCHEDULED),
        (booking_event("booking_confirmed", facts), MessageKind.BOOKING_CONFIRMED),
        (booking_event("booking_cancelled", facts), MessageKind.BOOKING_CANCELLED),
        (
            Event(name="payments.refund_succeeded", occurred_at=NOW, payload={}),
            MessageKind.REFUND_ISSUED,
        ),
    ]
    for event, kind in cases:
        assert kind_of(event) is kind, event.name
    for silent in (
        "bookings.booking_rescheduled",
        "bookings.booking_completed",
        "payments.payment_succeeded",
        "bookings.provider_created",
    ):
        assert kind_of(Event(name=silent, occurred_at=NOW, payload={})) is None


def test_keys_name_event_channel_and_recipient_and_read_back() -> None:
    booking, user = BookingId(uuid.uuid4()), UserId(uuid.uuid4())
    key = reminder_dedupe_key(booking, 120, Channel.EMAIL, user)
    assert key == f"reminder:{booking}:120:email:{user}"
    assert reminder_offset(key) == 120
    assert reminder_offset(f"{uuid.uuid4()}:email:{user}") is None
    original = uuid.uuid4()
    assert resent_from(resend_dedupe_key(original, 3)) == original  # type: ignore[arg-type]
    assert resent_from(key) is None


def _person(locale: str = "en") -> Person:
    user = UserId(uuid.uuid4())
    return Person(
        user_id=user,
        email="p@example.com",
        email_verified=True,
        display_name=None,
        preferences=ContactPreferences(user_id=user, locale=locale),
    )


def test_plan_gives_one_message_per_target_and_key_with_its_locale() -> None:
    event_id = EventId(uuid.uuid4())
    de, en = _person("de"), _person()
    targets = [
        Target(person=de, channel=Channel.EMAIL, address="p@example.com"),
        Target(person=de, channel=Channel.EMAIL, address="p@example.com"),  # the same key
        Target(person=de, channel=Channel.WHATSAPP, address="+4915112345678"),
        Target(person=en, channel=Channel.EMAIL, address="bounced@example.com", suppressed=True),
    ]
    planned = plan_messages(
        Plan(kind=MessageKind.BOOKING_CONFIRMED, event_id=event_id), targets, NOW
    )
    assert [m.dedupe_key for m in planned] == [
        f"{event_id}:email:{de.user_id}",
        f"{event_id}:whatsapp:{de.user_id}",
        f"{event_id}:email:{en.user_id}",
    ]
    assert [m.locale for m in planned] == ["de", "de", "en"]
    assert [m.status for m in planned] == [MessageStatus.QUEUED] * 2 + [MessageStatus.SUPPRESSED]
    assert planned[2].last_error == "address undeliverable"


async def test_the_default_policy_email_always_whatsapp_with_opt_in_marketing_never() -> None:
    policy = DefaultConsentPolicy()
    user = UserId(uuid.uuid4())
    plain = ContactPreferences(user_id=user)
    opted = ContactPreferences(user_id=user, phone="+4915112345678", whatsapp_opt_in_at=NOW)
    for purpose in (Purpose.TRANSACTIONAL, Purpose.REMINDERS):
        assert await policy.allows(user, purpose, Channel.EMAIL, plain)
        assert not await policy.allows(user, purpose, Channel.WHATSAPP, plain)
        assert await policy.allows(user, purpose, Channel.WHATSAPP, opted)
    for channel in Channel:
        assert not await policy.allows(user, Purpose.MARKETING, channel, opted)
