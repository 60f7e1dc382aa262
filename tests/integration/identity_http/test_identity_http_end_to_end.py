"""A customer's whole journey with real tokens: nothing stands in for the identity context."""

from __future__ import annotations

from identity_http_support import (
    Client,
    admin_with_mfa,
    log_in,
    new_email,
    open_shop,
    register,
    slot_start,
)

from adapters.memory.clock import FixedClock
from entrypoints.container import Container


async def test_register_log_in_search_hold_confirm_and_list_my_bookings(
    client: Client, container: Container, clock: FixedClock
) -> None:
    admin = await admin_with_mfa(client, container, clock.now())
    # A free court: its customer's word confirms it (a priced hold is confirmed by paying).
    shop = await open_shop(client, admin.headers, price_minor=0)
    email = new_email("customer")

    await register(client, email)
    me = await log_in(client, email)
    found = await client.get("/search", params={"lat": shop.lat, "lng": shop.lng, "radius_m": 1000})
    offering_id = found.json()["items"][0]["offering"]["id"]
    held = await client.post(
        "/bookings",
        json={"offering_id": offering_id, "start": slot_start(clock.now())},
        headers=me.headers,
    )
    confirmed = await client.post(f"/bookings/{held.json()['id']}/confirm", headers=me.headers)
    mine = await client.get("/bookings", headers=me.headers)

    assert found.status_code == 200
    assert offering_id == shop.offering_id
    assert held.status_code == 201
    assert held.json()["customer_id"] == me.user_id
    assert confirmed.json()["status"] == "confirmed"
    assert [(b["id"], b["status"]) for b in mine.json()["items"]] == [
        (held.json()["id"], "confirmed")
    ]
