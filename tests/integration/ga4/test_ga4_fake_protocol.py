"""The GA4 fake speaks the Measurement Protocol: 204 to any collect, the validation server's
messages on /debug, credentials checked, valid events kept for tests."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from devservers.ga4_fake import API_SECRET, MEASUREMENT_ID, LocalGa4

GOOD = {"measurement_id": MEASUREMENT_ID, "api_secret": API_SECRET}


def collect(
    ga4: LocalGa4, body: Any, *, debug: bool = False, query: dict[str, str] | None = None
) -> httpx.Response:
    path = "/debug/mp/collect" if debug else "/mp/collect"
    content = body if isinstance(body, bytes) else None
    return httpx.post(
        ga4.base_url + path,
        params={**GOOD, **(query or {})},
        json=None if content is not None else body,
        content=content,
    )


def codes(response: httpx.Response) -> list[tuple[str, str]]:
    return [(m["fieldPath"], m["validationCode"]) for m in response.json()["validationMessages"]]


def test_a_valid_event_is_answered_204_and_kept(ga4: LocalGa4) -> None:
    body = {
        "client_id": "c-1",
        "timestamp_micros": 1_700_000_000_000_000,
        "events": [{"name": "purchase", "params": {"currency": "EUR", "value": 12.5}}],
    }

    response = collect(ga4, body)

    assert response.status_code == 204
    assert response.content == b""
    assert ga4.control.events() == [
        {
            "client_id": "c-1",
            "timestamp_micros": 1_700_000_000_000_000,
            "name": "purchase",
            "params": {"currency": "EUR", "value": 12.5},
        }
    ]


@pytest.mark.parametrize(
    ("body", "query"),
    [
        ({"events": [{"name": "purchase"}]}, {}),  # no client_id
        ({"client_id": "c", "events": [{"name": "purchase"}]}, {"api_secret": "wrong"}),
        ({"client_id": "c", "events": [{"name": "purchase"}]}, {"measurement_id": "G-OTHER"}),
        (b"{not json", {}),
    ],
)
def test_bad_requests_get_204_too_and_keep_nothing(
    ga4: LocalGa4, body: Any, query: dict[str, str]
) -> None:
    response = collect(ga4, body, query=query)

    assert response.status_code == 204
    assert ga4.control.events() == []
    [request] = ga4.control.requests()
    assert request["validationMessages"]


def test_only_the_invalid_events_of_a_request_are_dropped(ga4: LocalGa4) -> None:
    body = {"client_id": "c", "events": [{"name": "_bad"}, {"name": "sign_up"}]}

    assert collect(ga4, body).status_code == 204

    assert [event["name"] for event in ga4.control.events()] == ["sign_up"]


def test_the_validation_server_finds_nothing_in_a_good_body_and_keeps_nothing(
    ga4: LocalGa4,
) -> None:
    body = {"client_id": "c", "events": [{"name": "sign_up", "params": {"method": "email"}}]}

    response = collect(ga4, body, debug=True)

    assert response.status_code == 200
    assert response.json() == {"validationMessages": []}
    assert ga4.control.events() == []


def test_the_validation_server_names_each_problem(ga4: LocalGa4) -> None:
    body = {
        "events": [
            {"name": "_badEventName"},
            {"name": "9lives"},
            {"name": "has-dash"},
            {"name": "x" * 41},
            {"name": "session_start"},
            {"name": "ok", "params": {f"p{i}": i for i in range(26)}},
            {"name": "ok", "params": {"google_x": 1, "long": "v" * 101}},
        ]
    }

    response = collect(ga4, body, debug=True)

    assert codes(response) == [
        ("client_id", "VALUE_REQUIRED"),
        ("events", "NAME_RESERVED"),  # names starting with "_" are reserved
        ("events", "NAME_INVALID"),
        ("events", "NAME_INVALID"),
        ("events", "VALUE_OUT_OF_BOUNDS"),
        ("events", "NAME_RESERVED"),
        ("events.params", "EXCEEDED_MAX_ENTITIES"),
        ("events.params", "NAME_RESERVED"),
        ("events.params", "VALUE_OUT_OF_BOUNDS"),
    ]
    descriptions = [m["description"] for m in response.json()["validationMessages"]]
    assert "Event at index: [2] has invalid name [has-dash]" in descriptions[3]


def test_more_than_25_events_exceed_the_maximum(ga4: LocalGa4) -> None:
    body = {"client_id": "c", "events": [{"name": "sign_up"}] * 26}

    assert codes(collect(ga4, body, debug=True)) == [("events", "EXCEEDED_MAX_ENTITIES")]


def test_credentials_are_checked_by_the_validation_server_too(ga4: LocalGa4) -> None:
    body = {"client_id": "c", "events": [{"name": "sign_up"}]}

    assert codes(collect(ga4, body, debug=True, query={"api_secret": ""})) == [
        ("api_secret", "VALUE_REQUIRED")
    ]
    assert codes(collect(ga4, body, debug=True, query={"measurement_id": "G-OTHER"})) == [
        ("measurement_id", "VALUE_INVALID")
    ]


def test_injected_outages_answer_their_status_then_recover(ga4: LocalGa4) -> None:
    ga4.control.fail_next(503, times=2)
    body = {"client_id": "c", "events": [{"name": "sign_up"}]}

    assert [collect(ga4, body).status_code for _ in range(3)] == [503, 503, 204]
    assert len(ga4.control.events()) == 1


def test_collect_wants_a_post(ga4: LocalGa4) -> None:
    assert httpx.get(ga4.base_url + "/mp/collect", params=GOOD).status_code == 405
