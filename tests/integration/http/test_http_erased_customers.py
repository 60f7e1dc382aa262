"""A person erased stays in the provider's schedule as "erased customer" (issue 10 §3).

Over HTTP against PostGIS: bookings seen by the provider's staff and admins carry
`customer: {"id", "erased"}`; a customer's own view does not. Erasure here is what the erasure
job does first: shredding the person's data key (`person_keys.shredded_at`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from http_support import Client, TokenTable, appointment, next_hour, open_shop
from sqlalchemy import event

from adapters.memory.clock import FixedClock
from entrypoints.container import Container


async def _hold(client: Client, court: dict[str, Any], start: str, who: dict[str, str]) -> str:
    response = await client.post(
        "/bookings", json={"offering_id": court["id"], "start": start}, headers=who
    )
    assert response.status_code == 201, response.text
    booking_id: str = response.json()["id"]
    return booking_id


@contextmanager
def _statements(container: Container) -> Iterator[list[str]]:
    """The SQL the app sends through the bookings context's engine meanwhile (the caller's
    settings, sent with BEGIN by the unit of work, are not among them)."""
    sent: list[str] = []
    engine = container.bookings_engine().sync_engine

    def record(*args: Any) -> None:
        sent.append(str(args[2]))  # (conn, cursor, statement, parameters, context, many)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_staff_see_an_erased_customers_bookings_as_erased_customer(
    client: Client, tokens: TokenTable, clock: FixedClock, container: Container
) -> None:
    shop = await open_shop(client, tokens)
    court = await appointment(client, shop)
    gone, kept = tokens.customer(), tokens.customer()
    gone_id, kept_id = tokens.user_id(gone), tokens.user_id(kept)
    theirs = [
        await _hold(client, court, next_hour(clock, hours=h).isoformat(), gone) for h in (0, 4)
    ]
    mine = await _hold(client, court, next_hour(clock, hours=2).isoformat(), kept)

    assert await container.personal_data().shred(uuid.UUID(gone_id)) is False  # had no key

    listed = await client.get(
        f"/providers/{shop.provider_id}/bookings", params={"limit": 10}, headers=shop.staff
    )
    assert listed.status_code == 200, listed.text
    customers = {b["id"]: (b["customer_id"], b["customer"]) for b in listed.json()["items"]}
    assert customers == {
        theirs[0]: (gone_id, {"id": gone_id, "erased": True}),
        theirs[1]: (gone_id, {"id": gone_id, "erased": True}),
        mine: (kept_id, {"id": kept_id, "erased": False}),
    }
    for reader in (shop.staff, tokens.admin()):
        one = (await client.get(f"/bookings/{theirs[0]}", headers=reader)).json()
        assert one["customer"] == {"id": gone_id, "erased": True}
        assert one["customer_id"] == gone_id
    own = (await client.get(f"/bookings/{mine}", headers=kept)).json()
    own_list = (await client.get("/bookings", headers=kept)).json()["items"]
    assert "customer" not in own  # a customer's own view is unchanged
    assert own["customer_id"] == kept_id
    assert [b["id"] for b in own_list] == [mine]
    assert "customer" not in own_list[0]


async def test_a_page_asks_once_however_many_bookings_it_shows(
    client: Client, tokens: TokenTable, clock: FixedClock, container: Container
) -> None:
    shop = await open_shop(client, tokens)
    court = await appointment(client, shop)
    for hours in range(0, 10, 2):
        await _hold(client, court, next_hour(clock, hours=hours).isoformat(), tokens.customer())
    path = f"/providers/{shop.provider_id}/bookings"
    await client.get(path, params={"limit": 1}, headers=shop.staff)  # a warm connection pool

    sent: dict[int, list[str]] = {}
    for limit in (1, 5):
        with _statements(container) as statements:
            response = await client.get(path, params={"limit": limit}, headers=shop.staff)
        assert response.status_code == 200, response.text
        assert len(response.json()["items"]) == limit
        sent[limit] = statements

    assert sent[1] == sent[5]  # the same statements, whatever the page size
    for statements in sent.values():  # one extra query: the erased customers of the page
        assert sum("person_keys" in statement for statement in statements) == 1
