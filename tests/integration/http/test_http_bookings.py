"""The booking lifecycle over HTTP, against PostGIS and Redis."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from http_support import Client, Shop, TokenTable, appointment, next_hour, open_shop, session

from adapters.memory.clock import FixedClock

PROBLEM = "application/problem+json"


def _z(iso: str) -> str:
    return iso.replace("+00:00", "Z")


async def _hold(
    client: Client, offering: dict[str, Any], start: str, who: dict[str, str]
) -> dict[str, Any]:
    response = await client.post(
        "/bookings", json={"offering_id": offering["id"], "start": start}, headers=who
    )
    assert response.status_code == 201, response.text
    held: dict[str, Any] = response.json()
    return held


async def _shop_with_court(client: Client, tokens: TokenTable) -> tuple[Shop, dict[str, Any]]:
    shop = await open_shop(client, tokens)
    return shop, await appointment(client, shop)


async def test_a_customer_holds_and_confirms_a_free_appointment(
    client: Client, tokens: TokenTable, clock: FixedClock
) -> None:
    shop = await open_shop(client, tokens)
    court = await appointment(client, shop, price_minor=0)
    me = tokens.customer()
    start = next_hour(clock)

    held = await _hold(client, court, start.isoformat(), me)
    confirmed = await client.post(f"/bookings/{held['id']}/confirm", headers=me)
    fetched = await client.get(f"/bookings/{held['id']}", headers=me)

    assert held["status"] == "held"
    assert held["start"] == _z(start.isoformat())
    assert held["price"] == {"amount_minor": 0, "currency": "EUR", "display": "0.00 EUR"}
    assert held["hold_expires_at"] is not None
    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "confirmed"
    assert fetched.json() == confirmed.json()


async def test_a_customer_confirming_a_priced_hold_gets_402_payment_required(
    client: Client, tokens: TokenTable, clock: FixedClock
) -> None:
    _, court = await _shop_with_court(client, tokens)
    me = tokens.customer()

    held = await _hold(client, court, next_hour(clock).isoformat(), me)
    refused = await client.post(f"/bookings/{held['id']}/confirm", headers=me)
    fetched = await client.get(f"/bookings/{held['id']}", headers=me)

    assert held["price"] == {"amount_minor": 2050, "currency": "EUR", "display": "20.50 EUR"}
    assert refused.status_code == 402
    assert refused.headers["content-type"].startswith(PROBLEM)
    assert refused.json()["type"] == "urn:reserva:problem:payment-required"
    assert refused.json()["title"] == "Payment required"
    assert f"POST /bookings/{held['id']}/payment" in refused.json()["detail"]
    assert fetched.json() == {k: v for k, v in held.items() if k != "terms"}  # the hold's terms


async def test_staff_confirm_a_priced_hold_paid_at_the_venue(
    client: Client, tokens: TokenTable, clock: FixedClock
) -> None:
    shop, court = await _shop_with_court(client, tokens)
    held = await _hold(client, court, next_hour(clock).isoformat(), tokens.customer())

    confirmed = await client.post(f"/bookings/{held['id']}/confirm", headers=shop.staff)

    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "confirmed"


async def test_the_confirm_route_documents_402(client: Client) -> None:
    document = (await client.get("/openapi.json")).json()

    answers = document["paths"]["/bookings/{booking_id}/confirm"]["post"]["responses"]

    assert "402" in answers
    assert "application/problem+json" in answers["402"]["content"]


async def test_start_times_with_any_offset_mean_the_same_instant(
    client: Client, tokens: TokenTable, clock: FixedClock
) -> None:
    _, court = await _shop_with_court(client, tokens)
    start = next_hour(clock)
    in_tokyo = start.astimezone(ZoneInfo("Asia/Tokyo")).isoformat()

    held = await _hold(client, court, in_tokyo, tokens.customer())

    assert held["start"] == _z(start.isoformat())


async def test_a_taken_slot_answers_409_slot_unavailable(
    client: Client, tokens: TokenTable, clock: FixedClock
) -> None:
    _, court = await _shop_with_court(client, tokens)
    start = next_hour(clock).isoformat()
    await _hold(client, court, start, tokens.customer())

    second = await client.post(
        "/bookings", json={"offering_id": court["id"], "start": start}, headers=tokens.customer()
    )

    assert second.status_code == 409
    assert second.headers["content-type"].startswith(PROBLEM)
    assert second.json()["title"] == "Slot unavailable"
    assert second.json()["type"].endswith("slot-unavailable")


async def test_a_full_session_answers_409_session_full(
    client: Client, tokens: TokenTable, clock: FixedClock
) -> None:
    shop = await open_shop(client, tokens)
    offering, run = await session(client, shop, capacity=2, first_start=next_hour(clock))
    body = {"offering_id": offering["id"], "occurrence_id": run, "seats": 2}
    first = await client.post("/bookings", json=body, headers=tokens.customer())

    second = await client.post("/bookings", json=body | {"seats": 1}, headers=tokens.customer())

    assert first.status_code == 201
    assert first.json()["price"]["amount_minor"] == 2400
    assert second.status_code == 409
    assert second.json()["title"] == "Session full"


async def test_an_expired_hold_cannot_be_confirmed(
    client: Client, tokens: TokenTable, clock: FixedClock
) -> None:
    _, court = await _shop_with_court(client, tokens)
    me = tokens.customer()
    held = await _hold(client, court, next_hour(clock).isoformat(), me)
    clock.advance(timedelta(hours=1))

    late = await client.post(f"/bookings/{held['id']}/confirm", headers=me)

    assert late.status_code == 409
    assert late.json()["title"] == "Hold expired"


async def test_holds_past_their_expiry_read_expired_and_confirm_as_hold_expired(
    client: Client, tokens: TokenTable, clock: FixedClock
) -> None:
    """A seat hold and an appointment hold whose slot someone took after the expiry."""
    shop = await open_shop(client, tokens)
    court = await appointment(client, shop)
    start = next_hour(clock)
    offering, run = await session(client, shop, capacity=5, first_start=start)
    me = tokens.customer()
    seat = await client.post(
        "/bookings", json={"offering_id": offering["id"], "occurrence_id": run}, headers=me
    )
    held = [seat.json(), await _hold(client, court, start.isoformat(), me)]
    clock.advance(timedelta(hours=1))
    await _hold(client, court, start.isoformat(), tokens.customer())  # sweeps the old hold

    read = [(await client.get(f"/bookings/{b['id']}", headers=me)).json() for b in held]
    listed = (await client.get("/bookings", headers=me)).json()["items"]
    confirmed = [await client.post(f"/bookings/{b['id']}/confirm", headers=me) for b in held]

    assert [b["status"] for b in read] == ["expired", "expired"]
    assert [b["status"] for b in listed] == ["expired", "expired"]
    assert [(c.status_code, c.json()["title"]) for c in confirmed] == [(409, "Hold expired")] * 2


async def test_cancelling_twice_is_an_invalid_transition(
    client: Client, tokens: TokenTable, clock: FixedClock
) -> None:
    _, court = await _shop_with_court(client, tokens)
    me = tokens.customer()
    held = await _hold(client, court, next_hour(clock).isoformat(), me)

    cancelled = await client.post(f"/bookings/{held['id']}/cancel", headers=me)
    again = await client.post(f"/bookings/{held['id']}/cancel", headers=me)

    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancelled_by"] == "customer"
    assert cancelled.json()["cancelled_at"] == _z(clock.now().isoformat())
    assert again.status_code == 409
    assert again.json()["title"] == "Invalid booking transition"


async def test_a_booking_cancelled_by_staff_says_the_provider_cancelled_it(
    client: Client, tokens: TokenTable, clock: FixedClock
) -> None:
    shop, court = await _shop_with_court(client, tokens)
    me = tokens.customer()
    held = await _hold(client, court, next_hour(clock).isoformat(), me)

    cancelled = await client.post(f"/bookings/{held['id']}/cancel", headers=shop.staff)
    seen = await client.get(f"/bookings/{held['id']}", headers=me)

    assert held["cancelled_at"] is None
    assert held["cancelled_by"] is None
    assert cancelled.status_code == 200
    assert cancelled.json()["cancelled_by"] == "provider"
    assert cancelled.json()["refunds"] == []  # nothing was paid
    assert cancelled.json()["customer"] == {"id": tokens.user_id(me), "erased": False}  # staff
    staff_only = ("refunds", "customer")
    assert seen.json() == {k: v for k, v in cancelled.json().items() if k not in staff_only}


async def test_rescheduling_moves_the_booking_and_frees_the_old_slot(
    client: Client, tokens: TokenTable, clock: FixedClock
) -> None:
    shop, court = await _shop_with_court(client, tokens)
    me = tokens.customer()
    old_start = next_hour(clock)
    held = await _hold(client, court, old_start.isoformat(), me)
    await client.post(f"/bookings/{held['id']}/confirm", headers=shop.staff)  # paid at the venue
    new_start = old_start + timedelta(hours=3)

    moved = await client.post(
        f"/bookings/{held['id']}/reschedule",
        json={"offering_id": court["id"], "start": new_start.isoformat()},
        headers=me,
    )
    old = await client.get(f"/bookings/{held['id']}", headers=me)
    old_slot_again = await _hold(client, court, old_start.isoformat(), tokens.customer())

    assert moved.status_code == 200
    assert moved.json()["status"] == "confirmed"
    assert moved.json()["rescheduled_from"] == held["id"]
    assert moved.json()["start"] == _z(new_start.isoformat())
    assert old.json()["status"] == "rescheduled"
    assert old_slot_again["status"] == "held"


async def test_staff_complete_and_mark_no_show_after_the_fact(
    client: Client, tokens: TokenTable, clock: FixedClock
) -> None:
    shop, court = await _shop_with_court(client, tokens)
    me = tokens.customer()
    start = next_hour(clock)
    done = await _hold(client, court, start.isoformat(), me)
    absent = await _hold(client, court, (start + timedelta(hours=1)).isoformat(), me)
    for booking in (done, absent):  # paid at the venue
        await client.post(f"/bookings/{booking['id']}/confirm", headers=shop.staff)
    clock.set(start + timedelta(hours=2))

    completed = await client.post(f"/bookings/{done['id']}/complete", headers=shop.staff)
    no_show = await client.post(f"/bookings/{absent['id']}/no-show", headers=shop.staff)
    by_customer = await client.post(f"/bookings/{absent['id']}/complete", headers=me)

    assert completed.status_code == 200
    assert completed.json()["status"] == "completed"
    assert no_show.status_code == 200
    assert no_show.json()["status"] == "no_show"
    assert by_customer.status_code == 404


async def test_another_customers_booking_is_not_found(
    client: Client, tokens: TokenTable, clock: FixedClock
) -> None:
    _, court = await _shop_with_court(client, tokens)
    held = await _hold(client, court, next_hour(clock).isoformat(), tokens.customer())
    stranger = tokens.customer()

    seen = await client.get(f"/bookings/{held['id']}", headers=stranger)
    cancelled = await client.post(f"/bookings/{held['id']}/cancel", headers=stranger)

    assert seen.status_code == 404
    assert seen.headers["content-type"].startswith(PROBLEM)
    assert cancelled.status_code == 404


async def test_unknown_ids_are_not_found(client: Client, tokens: TokenTable) -> None:
    nobody = uuid.uuid4()
    me = tokens.customer()

    answers = [
        await client.get(f"/providers/{nobody}"),
        await client.get(f"/offerings/{nobody}"),
        await client.get(
            f"/offerings/{nobody}/availability",
            params={"from": "2031-01-01T00:00:00Z", "to": "2031-01-02T00:00:00Z"},
        ),
        await client.get(f"/bookings/{nobody}", headers=me),
        await client.post(f"/bookings/{nobody}/confirm", headers=me),
        await client.post("/bookings", json={"offering_id": str(nobody)}, headers=me),
        await client.post(
            f"/places/{nobody}/resources", json={"name": "Court"}, headers=tokens.admin()
        ),
    ]

    assert [a.status_code for a in answers] == [404] * len(answers)
    assert all(a.headers["content-type"].startswith(PROBLEM) for a in answers)
    assert all(a.json()["instance"] for a in answers)


async def test_staff_without_a_second_factor_get_mfa_required(
    client: Client, tokens: TokenTable
) -> None:
    shop = await open_shop(client, tokens)
    weak_staff = tokens.staff(shop.provider_id, mfa=False)

    response = await client.post(
        f"/places/{shop.place_id}/resources", json={"name": "Court"}, headers=weak_staff
    )

    assert response.status_code == 403
    assert response.json()["type"].endswith("mfa-required")


async def test_customers_may_not_manage_a_catalog(client: Client, tokens: TokenTable) -> None:
    shop = await open_shop(client, tokens)

    response = await client.post(
        f"/places/{shop.place_id}/resources", json={"name": "Court"}, headers=tokens.customer()
    )

    assert response.status_code == 403
    assert response.json()["type"].endswith("forbidden")


async def test_my_bookings_page_newest_first(
    client: Client, tokens: TokenTable, clock: FixedClock
) -> None:
    _, court = await _shop_with_court(client, tokens)
    me = tokens.customer()
    made = []
    for hour in range(3):
        made.append(await _hold(client, court, next_hour(clock, hours=hour).isoformat(), me))
        clock.advance(timedelta(seconds=1))

    first = (await client.get("/bookings", params={"limit": 2}, headers=me)).json()
    rest = (
        await client.get("/bookings", params={"limit": 2, "after": first["next"]}, headers=me)
    ).json()

    assert [b["id"] for b in first["items"] + rest["items"]] == [b["id"] for b in reversed(made)]
    assert rest["next"] is None


async def test_staff_list_their_providers_bookings(
    client: Client, tokens: TokenTable, clock: FixedClock
) -> None:
    shop, court = await _shop_with_court(client, tokens)
    held = await _hold(client, court, next_hour(clock).isoformat(), tokens.customer())
    other_shop = await open_shop(client, tokens)

    mine = await client.get(f"/providers/{shop.provider_id}/bookings", headers=shop.staff)
    theirs = await client.get(f"/providers/{shop.provider_id}/bookings", headers=other_shop.staff)

    assert [b["id"] for b in mine.json()["items"]] == [held["id"]]
    assert theirs.status_code == 403
