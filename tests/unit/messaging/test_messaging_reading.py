"""Who reads which messages (recipient, the provider's staff, admins) and an admin's resend."""

from __future__ import annotations

import uuid

import attrs
from messaging_support import DAY, NOW, booking_event, dispatch, failure, ok, world

from adapters.memory.messaging import InMemoryMessaging
from core.messaging import (
    AddressUndeliverable,
    ListAllMessages,
    ListMyMessages,
    ListProviderMessages,
    MessageStatus,
    ResendMessage,
    ShowMessage,
)
from core.shared.errors import Forbidden, NotFound
from core.shared.ids import ProviderId
from core.shared.principal import MfaRequired, Principal
from core.shared.unit_of_work import Access


async def _scene(app: InMemoryMessaging) -> tuple[Principal, Principal, ProviderId]:
    provider = ProviderId(uuid.uuid4())
    customer, staff = app.person(), app.staff(provider)
    for days in (2, 3, 4):
        facts = app.booking(
            customer.user_id, starts=NOW + days * DAY, provider_id=provider, staff=[staff.user_id]
        )
        await dispatch(app, booking_event("booking_confirmed", facts))
    await dispatch(
        app, booking_event("booking_confirmed", app.booking(app.person().user_id, starts=NOW + DAY))
    )  # someone else's, elsewhere
    return customer, staff, provider


async def test_a_customer_lists_their_own_messages_newest_first_in_pages() -> None:
    app = world()
    customer, _, _ = await _scene(app)
    mine = ok(await app(ListMyMessages)(customer))
    assert len(mine) == 3
    assert {m.recipient_id for m in mine} == {customer.user_id}
    assert [m.created_at for m in mine] == sorted((m.created_at for m in mine), reverse=True)
    first = ok(await app(ListMyMessages)(customer, limit=2))
    rest = ok(await app(ListMyMessages)(customer, before=first[-1].id, limit=2))
    assert [m.id for m in [*first, *rest]] == [m.id for m in mine]
    assert app.store.accesses[-1] == Access.of(customer)


async def test_staff_list_their_providers_messages_with_a_second_factor() -> None:
    app = world()
    customer, staff, provider = await _scene(app)
    listed = ok(await app(ListProviderMessages)(staff, provider))
    assert len(listed) == 6  # the customer's three and the staff copies
    assert {m.provider_id for m in listed} == {provider}
    no_mfa = attrs.evolve(staff, mfa=False)
    assert isinstance(failure(await app(ListProviderMessages)(no_mfa, provider)), MfaRequired)
    assert isinstance(failure(await app(ListProviderMessages)(customer, provider)), Forbidden)
    other = ProviderId(uuid.uuid4())
    assert isinstance(failure(await app(ListProviderMessages)(staff, other)), Forbidden)
    failed = ok(await app(ListProviderMessages)(staff, provider, status=MessageStatus.FAILED))
    assert failed == []


async def test_admins_list_every_message_by_status() -> None:
    app = world()
    customer, _, _ = await _scene(app)
    assert len(ok(await app(ListAllMessages)(app.admin))) == 7
    queued = ok(await app(ListAllMessages)(app.admin, status=MessageStatus.QUEUED))
    assert len(queued) == 7
    assert isinstance(failure(await app(ListAllMessages)(customer)), Forbidden)


async def test_a_message_shows_to_its_recipient_its_staff_and_admins_only() -> None:
    app = world()
    customer, staff, _provider = await _scene(app)
    (message,) = ok(await app(ListMyMessages)(customer, limit=1))
    for reader in (customer, staff, app.admin):
        assert ok(await app(ShowMessage)(reader, message.id)) == message
    stranger, other_staff = app.person(), app.staff(ProviderId(uuid.uuid4()))
    admin_without_mfa = attrs.evolve(app.admin, mfa=False)
    for reader in (stranger, other_staff, admin_without_mfa, attrs.evolve(staff, mfa=False)):
        assert failure(await app(ShowMessage)(reader, message.id)) == NotFound(
            kind="message", id=str(message.id)
        )


async def test_an_admin_resends_as_a_new_message_with_its_own_key_and_job() -> None:
    app = world()
    customer, _, _ = await _scene(app)
    await app.run_jobs()
    (original,) = ok(await app(ListMyMessages)(customer, limit=1))
    first = ok(await app(ResendMessage)(app.admin, original.id))
    second = ok(await app(ResendMessage)(app.admin, original.id))
    assert first.dedupe_key == f"resend:{original.id}:1"
    assert second.dedupe_key == f"resend:{original.id}:2"
    assert (first.status, first.attempts, first.provider_message_id) == (
        MessageStatus.QUEUED,
        0,
        None,
    )
    assert app.store.send_queue == [first.id, second.id]
    await app.run_jobs()
    assert len(app.email.to(original.address)) == 3 + 2
    assert app.store.message(original.id).status is MessageStatus.SENT


async def test_resending_needs_an_admin_and_a_deliverable_address() -> None:
    app = world()
    customer, staff, _ = await _scene(app)
    (original,) = ok(await app(ListMyMessages)(customer, limit=1))
    assert isinstance(failure(await app(ResendMessage)(staff, original.id)), Forbidden)
    missing = uuid.uuid4()
    assert isinstance(failure(await app(ResendMessage)(app.admin, missing)), NotFound)  # type: ignore[arg-type]
    app.store.tables["undeliverable"][original.address.lower()] = ("bounce", NOW)
    assert failure(await app(ResendMessage)(app.admin, original.id)) == AddressUndeliverable(
        original.address
    )
