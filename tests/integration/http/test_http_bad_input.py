"""Bad input never reaches a 500: every case answers 4xx problem+json naming the field."""

from __future__ import annotations

import uuid
from typing import Any

import attrs
import pytest
from http_support import Client, TokenTable

SOMEONE = str(uuid.uuid4())
LATER = "2031-06-01T10:00:00Z"


@attrs.frozen(kw_only=True)
class Case:
    id: str
    method: str
    path: str
    field: str
    status: int = 422
    json: Any = None
    content: bytes | None = None
    params: dict[str, Any] | None = None
    headers: dict[str, str] = attrs.field(factory=dict)


def _place(**changes: Any) -> dict[str, Any]:
    address = {"line1": "1 Main St", "city": "Madrid", "postal_code": "28001", "country": "ES"}
    body = {"name": "P", "address": address, "lat": 40.0, "lng": -3.0, "timezone": "UTC"}
    return body | changes


def _offering(**changes: Any) -> dict[str, Any]:
    body = {
        "kind": "appointment",
        "name": "Court",
        "category": "tennis",
        "price": {"amount_minor": 1000, "currency": "EUR"},
        "duration_minutes": 60,
        "resource_ids": [SOMEONE],
    }
    return body | changes


def _hold(**changes: Any) -> dict[str, Any]:
    return {"offering_id": SOMEONE, "start": LATER} | changes


SEARCH = {"lat": 40.0, "lng": -3.0, "radius_m": 1000}
WINDOW = {"from": "2031-01-01T00:00:00Z", "to": "2031-01-02T00:00:00Z"}
PLACES = f"/providers/{SOMEONE}/places"
OFFERINGS = f"/places/{SOMEONE}/offerings"
HOURS = f"/places/{SOMEONE}/hours"
AVAILABILITY = f"/offerings/{SOMEONE}/availability"
WEEKLY = {"weekday": 0, "opens": "09:00", "closes": "17:00"}

CASES = [
    # bodies that are not what they claim to be
    Case(id="not json", method="POST", path="/bookings", content=b"not json", field="body",
         status=400),
    Case(id="NaN literal", method="POST", path="/bookings",
         content=b'{"offering_id": "' + SOMEONE.encode() + b'", "seats": NaN}', field="body",
         status=400),
    Case(id="number beyond float", method="POST", path=PLACES,
         content=b'{"lat": 1e999}', field="body", status=400),
    Case(id="array body", method="POST", path="/bookings", json=[1, 2], field="body"),
    Case(id="missing field", method="POST", path="/bookings", json={}, field="offering_id"),
    Case(id="unknown field", method="POST", path="/bookings", json=_hold(colour="red"),
         field="colour"),
    # wrong types and absurd numbers
    Case(id="malformed uuid in body", method="POST", path="/bookings",
         json=_hold(offering_id="zzz"), field="offering_id"),
    Case(id="text for int", method="POST", path="/bookings", json=_hold(seats="three"),
         field="seats"),
    Case(id="object for text", method="POST", path=PLACES, json=_place(name={"a": 1}),
         field="name"),
    Case(id="huge seats", method="POST", path="/bookings", json=_hold(seats=10**30),
         field="seats"),
    Case(id="huge duration", method="POST", path=OFFERINGS,
         json=_offering(duration_minutes=10**18), field="duration_minutes"),
    Case(id="huge price", method="POST", path=OFFERINGS,
         json=_offering(price={"amount_minor": 10**30, "currency": "EUR"}), field="price"),
    Case(id="unknown currency", method="POST", path=OFFERINGS,
         json=_offering(price={"amount_minor": 100, "currency": "XYZ"}), field="currency"),
    Case(id="unknown kind", method="POST", path=OFFERINGS, json=_offering(kind="party"),
         field="kind"),
    # dates and time zones
    Case(id="naive start", method="POST", path="/bookings",
         json=_hold(start="2031-06-01T10:00:00"), field="start"),
    Case(id="far past start", method="POST", path="/bookings",
         json=_hold(start="1900-01-01T00:00:00Z"), field="start"),
    Case(id="far future start", method="POST", path="/bookings",
         json=_hold(start="2999-01-01T00:00:00Z"), field="start"),
    Case(id="year 99999", method="POST", path="/bookings",
         json=_hold(start="99999-01-01T00:00:00Z"), field="start"),
    Case(id="naive first_start", method="POST", path=f"/offerings/{SOMEONE}/sessions",
         json={"first_start": "2031-06-01T10:00:00"}, field="first_start"),
    Case(id="far repeat_until", method="POST", path=f"/offerings/{SOMEONE}/sessions",
         json={"first_start": LATER, "repeat_until": "3000-01-01"}, field="repeat_until"),
    Case(id="invalid time zone", method="POST", path=PLACES, json=_place(timezone="Mars/Base"),
         field="timezone"),
    Case(id="hour 25", method="PUT", path=HOURS,
         json={"weekly": [WEEKLY | {"opens": "25:00"}]}, field="weekly[0].opens"),
    Case(id="weekday 9", method="PUT", path=HOURS, json={"weekly": [WEEKLY | {"weekday": 9}]},
         field="weekly[0].weekday"),
    Case(id="closing before opening", method="PUT", path=HOURS,
         json={"weekly": [WEEKLY | {"opens": "18:00"}]}, field="hours"),
    Case(id="far past exception", method="PUT", path=HOURS,
         json={"weekly": [], "exceptions": [{"date": "1900-01-01"}]}, field="exceptions.date"),
    # places
    Case(id="lat 91", method="POST", path=PLACES, json=_place(lat=91), field="lat"),
    Case(id="lng -181", method="POST", path=PLACES, json=_place(lng=-181), field="lng"),
    Case(id="blank name", method="POST", path=PLACES, json=_place(name="  "), field="name"),
    Case(id="bad country", method="POST", path=PLACES,
         json=_place(address=_place()["address"] | {"country": "Spain"}),
         field="address.country"),
    # query strings
    Case(id="search lat 91", method="GET", path="/search", params=SEARCH | {"lat": 91},
         field="lat"),
    Case(id="search lat NaN", method="GET", path="/search", params=SEARCH | {"lat": "nan"},
         field="lat"),
    Case(id="search lat text", method="GET", path="/search", params=SEARCH | {"lat": "north"},
         field="lat"),
    Case(id="search without lat", method="GET", path="/search",
         params={"lng": 1, "radius_m": 10}, field="lat"),
    Case(id="radius 0", method="GET", path="/search", params=SEARCH | {"radius_m": 0},
         field="radius_m"),
    Case(id="radius 1e9", method="GET", path="/search", params=SEARCH | {"radius_m": 10**9},
         field="radius_m"),
    Case(id="page size 1e6", method="GET", path="/search", params=SEARCH | {"limit": 10**6},
         field="limit"),
    Case(id="page size 0", method="GET", path="/providers", params={"limit": 0}, field="limit"),
    Case(id="bad currency filter", method="GET", path="/search",
         params=SEARCH | {"currency": "ZZZ"}, field="currency"),
    Case(id="half a free window", method="GET", path="/search",
         params=SEARCH | {"free_from": LATER}, field="free_to"),
    Case(id="naive from", method="GET", path=AVAILABILITY,
         params=WINDOW | {"from": "2031-01-01T00:00:00"}, field="from"),
    Case(id="far past from", method="GET", path=AVAILABILITY,
         params=WINDOW | {"from": "1800-01-01T00:00:00Z"}, field="from"),
    Case(id="to before from", method="GET", path=AVAILABILITY,
         params=WINDOW | {"to": "2030-01-01T00:00:00Z"}, field="to"),
    Case(id="window of 60 days", method="GET", path=AVAILABILITY,
         params=WINDOW | {"to": "2031-03-02T00:00:00Z"}, field="to"),
    Case(id="missing to", method="GET", path=AVAILABILITY, params={"from": WINDOW["from"]},
         field="to"),
    # identifiers in paths and headers
    Case(id="malformed uuid in path", method="GET", path="/offerings/not-a-uuid",
         field="offering_id"),
    Case(id="malformed booking id", method="POST", path="/bookings/123/cancel",
         field="booking_id"),
    Case(id="idempotency key too long", method="POST", path="/bookings", json=_hold(),
         headers={"Idempotency-Key": "k" * 300}, field="Idempotency-Key"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
async def test_bad_input_answers_a_problem_naming_the_field(
    client: Client, tokens: TokenTable, case: Case
) -> None:
    response = await client.request(
        case.method,
        case.path,
        json=case.json,
        content=case.content,
        params=case.params,
        headers=tokens.admin() | {"Content-Type": "application/json"} | case.headers,
    )

    assert response.status_code == case.status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == case.status
    assert {"type", "title", "detail", "instance"} <= problem.keys()
    assert case.field in [error["field"] for error in problem["errors"]], problem
