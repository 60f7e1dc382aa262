"""Many customers at once over HTTP: the database decides, and every loser gets a clean 409.

A real uvicorn server takes every request of a burst at once; nothing in the app serialises
them: they share one event loop, a pool of a dozen connections and whatever interleaving
asyncio picks.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from http_support import Client, TokenTable, appointment, next_hour, open_shop, session

from adapters.memory.clock import FixedClock

SEATS = 10
SEAT_SEEKERS = 200
RIVALS = 64
ROUNDS = 20


async def test_200_customers_for_10_seats_get_exactly_10_holds(
    live: Client, tokens: TokenTable, clock: FixedClock
) -> None:
    shop = await open_shop(live, tokens)
    offering, run = await session(live, shop, capacity=SEATS, first_start=next_hour(clock))
    body = {"offering_id": offering["id"], "occurrence_id": run}

    answers = await asyncio.gather(
        *(live.post("/bookings", json=body, headers=tokens.customer()) for _ in range(SEAT_SEEKERS))
    )

    statuses = Counter(a.status_code for a in answers)
    assert statuses == {201: SEATS, 409: SEAT_SEEKERS - SEATS}
    assert {a.json()["title"] for a in answers if a.status_code == 409} == {"Session full"}
    staff_view = await live.get(
        f"/providers/{shop.provider_id}/bookings", params={"limit": 100}, headers=shop.staff
    )
    assert len(staff_view.json()["items"]) == SEATS


async def test_64_customers_for_one_slot_get_exactly_one_hold_20_times(
    live: Client, tokens: TokenTable, clock: FixedClock
) -> None:
    shop = await open_shop(live, tokens)
    court = await appointment(live, shop)
    first = next_hour(clock)

    for round_ in range(ROUNDS):
        start = (first + timedelta(hours=round_)).isoformat()
        body = {"offering_id": court["id"], "start": start}

        rivals = [tokens.customer() for _ in range(RIVALS)]

        answers = await asyncio.gather(
            *(live.post("/bookings", json=body, headers=who) for who in rivals)
        )

        statuses = Counter(a.status_code for a in answers)
        assert statuses == {201: 1, 409: RIVALS - 1}, (round_, statuses)
        assert {a.json()["title"] for a in answers if a.status_code == 409} == {"Slot unavailable"}
