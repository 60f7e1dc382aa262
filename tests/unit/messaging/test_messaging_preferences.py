"""Contact preferences: a supported language, an E.164 phone, WhatsApp opt-in with its time."""

from __future__ import annotations

from messaging_support import DAY, NOW, failure, ok, world

from core.messaging import (
    ContactPreferences,
    GetContactPreferences,
    PreferencesChange,
    SetContactPreferences,
)
from core.shared.errors import InvalidInput


async def test_defaults_until_set() -> None:
    app = world()
    ada = app.person()
    assert ok(await app(GetContactPreferences)(ada)) == ContactPreferences(user_id=ada.user_id)


async def test_language_phone_and_opt_in_are_kept() -> None:
    app = world()
    ada = app.person()
    change = PreferencesChange(locale="de", phone="0151 1234 5678", region="DE", whatsapp=True)
    saved = ok(await app(SetContactPreferences)(ada, change))
    assert saved == ContactPreferences(
        user_id=ada.user_id, locale="de", phone="+4915112345678", whatsapp_opt_in_at=NOW
    )
    assert ok(await app(GetContactPreferences)(ada)) == saved
    app.clock.advance(DAY)
    again = ok(await app(SetContactPreferences)(ada, PreferencesChange(whatsapp=True)))
    assert again.whatsapp_opt_in_at == NOW  # the first opt-in's time stays


async def test_bad_language_or_number_is_refused_and_nothing_changes() -> None:
    app = world()
    ada = app.person()
    set_ = app(SetContactPreferences)
    error = failure(await set_(ada, PreferencesChange(locale="fr")))
    assert isinstance(error, InvalidInput)
    assert error.field == "locale"
    for raw in ("12", "+0123456789", "call me", "01511234567"):  # national without a region
        error = failure(await set_(ada, PreferencesChange(phone=raw)))
        assert isinstance(error, InvalidInput)
        assert error.field == "phone"
    assert app.store.tables["preferences"] == {}


async def test_opting_in_needs_a_phone() -> None:
    app = world()
    ada = app.person()
    error = failure(await app(SetContactPreferences)(ada, PreferencesChange(whatsapp=True)))
    assert isinstance(error, InvalidInput)
    assert error.field == "whatsapp"


async def test_a_new_number_or_opting_out_ends_the_opt_in() -> None:
    app = world()
    ada = app.person()
    set_ = app(SetContactPreferences)
    ok(await set_(ada, PreferencesChange(phone="+4915112345678", whatsapp=True)))
    moved = ok(await set_(ada, PreferencesChange(phone="+43 660 1234567")))
    assert moved.phone == "+436601234567"
    assert moved.whatsapp_opt_in_at is None
    ok(await set_(ada, PreferencesChange(whatsapp=True)))
    out = ok(await set_(ada, PreferencesChange(whatsapp=False)))
    assert out.whatsapp_opt_in_at is None
    assert out.phone == "+436601234567"
    ok(await set_(ada, PreferencesChange(whatsapp=True)))
    gone = ok(await set_(ada, PreferencesChange(remove_phone=True)))
    assert gone.phone is None
    assert gone.whatsapp_opt_in_at is None
