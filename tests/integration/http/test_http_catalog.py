"""Catalog management and public reads over HTTP, against PostGIS."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from http_support import Client, TokenTable, appointment, created, next_hour, open_shop, session

from adapters.memory.clock import FixedClock


async def test_an_admin_creates_a_provider_and_anyone_reads_it(
    client: Client, tokens: TokenTable
) -> None:
    provider = await created(client, "/providers", {"name": "  Padel Arena "}, tokens.admin())

    catalog = await client.get(f"/providers/{provider['id']}")

    assert provider["name"] == "Padel Arena"
    assert catalog.status_code == 200
    assert catalog.json()["provider"] == provider


async def test_staff_build_a_place_with_hours_resources_and_offerings(
    client: Client, tokens: TokenTable
) -> None:
    shop = await open_shop(client, tokens)
    hours = await client.put(
        f"/places/{shop.place_id}/hours",
        json={
            "weekly": [{"weekday": 0, "opens": "09:00", "closes": "13:30"}],
            "exceptions": [
                {"date": "2031-12-25"},
                {"date": "2031-12-24", "intervals": [{"opens": "10:00", "closes": "12:00"}]},
            ],
        },
        headers=shop.staff,
    )
    offering = await appointment(client, shop, resources=2)

    catalog = (await client.get(f"/providers/{shop.provider_id}")).json()

    assert hours.status_code == 200
    assert hours.json()["weekly"] == [{"weekday": 0, "opens": "09:00", "closes": "13:30"}]
    assert [e["date"] for e in hours.json()["exceptions"]] == ["2031-12-24", "2031-12-25"]
    assert [p["id"] for p in catalog["places"]] == [shop.place_id]
    assert catalog["places"][0]["location"] == {"lat": shop.lat, "lng": shop.lng}
    assert len(catalog["resources"]) == 2
    assert offering["price"] == {"amount_minor": 2050, "currency": "EUR", "display": "20.50 EUR"}
    assert offering["category"] == "tennis"
    assert offering["rules"]["duration_minutes"] == 60
    assert catalog["offerings"] == [offering]


async def test_staff_schedule_weekly_session_runs(
    client: Client, tokens: TokenTable, clock: FixedClock
) -> None:
    shop = await open_shop(client, tokens)
    first = next_hour(clock, days=3)
    offering, _ = await session(client, shop, capacity=12, first_start=first)

    runs = await created(
        client,
        f"/offerings/{offering['id']}/sessions",
        {
            "first_start": first.isoformat(),
            # A date in the place's zone (Madrid): the last run's local date, whatever the hour.
            "repeat_until": (first + timedelta(weeks=3))
            .astimezone(ZoneInfo("Europe/Madrid"))
            .date()
            .isoformat(),
        },
        shop.staff,
    )

    assert len(runs) == 4
    assert all(run["capacity"] == 12 for run in runs)
    assert runs[0]["start"].endswith("Z")


async def test_availability_lists_free_slots_in_utc(
    client: Client, tokens: TokenTable, clock: FixedClock
) -> None:
    shop = await open_shop(client, tokens)
    offering = await appointment(client, shop)
    start = next_hour(clock)

    response = await client.get(
        f"/offerings/{offering['id']}/availability",
        params={"from": start.isoformat(), "to": (start + timedelta(hours=3)).isoformat()},
    )

    assert response.status_code == 200
    slots = response.json()["slots"]
    assert [s["start"] for s in slots] == [
        (start + timedelta(hours=h)).isoformat().replace("+00:00", "Z") for h in range(3)
    ]


async def test_offering_reads_are_public(client: Client, tokens: TokenTable) -> None:
    shop = await open_shop(client, tokens)
    offering = await appointment(client, shop)

    response = await client.get(f"/offerings/{offering['id']}")

    assert response.status_code == 200
    assert response.json() == offering


async def test_providers_list_pages_with_a_cursor(client: Client, tokens: TokenTable) -> None:
    admin = tokens.admin()
    for n in range(3):
        await created(client, "/providers", {"name": f"Pager {n}"}, admin)

    seen: list[str] = []
    after: str | None = None
    while True:
        params = {"limit": "2"} | ({"after": after} if after else {})
        page = (await client.get("/providers", params=params)).json()
        seen += [p["id"] for p in page["items"]]
        after = page["next"]
        if after is None:
            break

    assert len(page["items"]) <= 2
    assert len(seen) == len(set(seen)) >= 3
    assert seen == sorted(seen)


async def test_search_finds_nearby_offerings_and_pages(client: Client, tokens: TokenTable) -> None:
    shop = await open_shop(client, tokens)
    for _ in range(3):
        await appointment(client, shop)
    near = {"lat": shop.lat + 0.001, "lng": shop.lng, "radius_m": 500, "category": "tennis"}

    answer = await client.get("/search", params=near | {"limit": "2"})
    assert answer.status_code == 200, answer.text
    first = answer.json()
    assert "next" in first, first
    rest = await client.get("/search", params=near | {"limit": "100", "after": first["next"]})

    assert len(first["items"]) == 2
    assert first["next"] is not None
    assert {h["place"]["id"] for h in first["items"]} == {shop.place_id}
    assert 100 < first["items"][0]["distance_m"] < 120
    assert len(rest.json()["items"]) == 1
    assert rest.json()["next"] is None
    found = {h["offering"]["id"] for h in first["items"] + rest.json()["items"]}
    assert len(found) == 3


async def test_search_with_a_free_window_skips_fully_booked_offerings(
    client: Client, tokens: TokenTable, clock: FixedClock
) -> None:
    shop = await open_shop(client, tokens, timezone="Asia/Tokyo")
    start = next_hour(clock, days=4)
    offering, run = await session(client, shop, capacity=1, first_start=start)
    window = {
        "lat": shop.lat,
        "lng": shop.lng,
        "radius_m": "100",
        "category": "yoga",
        "free_from": start.isoformat(),
        "free_to": (start + timedelta(hours=1)).isoformat(),
    }
    before = (await client.get("/search", params=window)).json()
    held = await client.post(
        "/bookings",
        json={"offering_id": offering["id"], "occurrence_id": run},
        headers=tokens.customer(),
    )

    after = (await client.get("/search", params=window)).json()

    assert held.status_code == 201
    assert offering["id"] in {h["offering"]["id"] for h in before["items"]}
    assert offering["id"] not in {h["offering"]["id"] for h in after["items"]}


async def test_the_openapi_document_is_served_with_a_docs_page(client: Client) -> None:
    document = await client.get("/openapi.json")
    docs = await client.get("/docs")

    assert document.status_code == 200
    assert document.json()["openapi"].startswith("3.1")
    assert "/bookings" in document.json()["paths"]
    assert "bearer" in document.json()["components"]["securitySchemes"]
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]
