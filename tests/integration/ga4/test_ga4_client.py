"""The GA4 adapter through real HTTP against the local Measurement Protocol fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from adapters.ga4 import Ga4InvalidEvents, Ga4MeasurementProtocol, Ga4Unavailable
from core.consent.analytics import AnalyticsEvent, measurement_body
from devservers.ga4_fake import API_SECRET, MEASUREMENT_ID, LocalGa4
from devservers.net import free_port

AT = datetime(2030, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC)
PURCHASE = AnalyticsEvent(
    name="purchase",
    params={"currency": "EUR", "value": 12.5, "transaction_id": "abc"},
    occurred_at=AT,
)


@pytest.fixture
async def client(ga4: LocalGa4) -> AsyncIterator[Ga4MeasurementProtocol]:
    ga4_client = Ga4MeasurementProtocol(MEASUREMENT_ID, API_SECRET, endpoint=ga4.base_url)
    yield ga4_client
    await ga4_client.aclose()


async def test_an_event_reaches_the_property_with_its_client_and_time(
    client: Ga4MeasurementProtocol, ga4: LocalGa4
) -> None:
    await client.send("pseudonym-1", [PURCHASE])

    assert ga4.control.events() == [
        {
            "client_id": "pseudonym-1",
            "timestamp_micros": int(AT.timestamp()) * 1_000_000 + 250_000,
            "name": "purchase",
            "params": {"currency": "EUR", "value": 12.5, "transaction_id": "abc"},
        }
    ]
    [request] = ga4.control.requests()
    assert request["measurement_id"] == MEASUREMENT_ID
    assert request["validationMessages"] == []


async def test_more_than_25_events_go_in_several_requests(
    client: Ga4MeasurementProtocol, ga4: LocalGa4
) -> None:
    await client.send("c", [PURCHASE] * 30)

    assert [len(r["body"]["events"]) for r in ga4.control.requests()] == [25, 5]
    assert len(ga4.control.events()) == 30


async def test_the_validation_server_accepts_what_the_core_builds(
    client: Ga4MeasurementProtocol,
) -> None:
    assert await client.validate(measurement_body("c", [PURCHASE])) == []


async def test_the_validation_server_reports_a_bad_body(client: Ga4MeasurementProtocol) -> None:
    messages = await client.validate({"events": [{"name": "_bad"}]})

    assert [m["validationCode"] for m in messages] == ["VALUE_REQUIRED", "NAME_RESERVED"]


async def test_validation_mode_refuses_what_ga4_would_drop(ga4: LocalGa4) -> None:
    strict = Ga4MeasurementProtocol(
        MEASUREMENT_ID, "not-the-secret", endpoint=ga4.base_url, validation=True
    )
    try:
        with pytest.raises(Ga4InvalidEvents, match="VALUE_INVALID: api_secret"):
            await strict.send("c", [PURCHASE])
    finally:
        await strict.aclose()
    assert ga4.control.requests() == []  # nothing sent for real


async def test_a_wrong_secret_is_silently_dropped_as_google_does(ga4: LocalGa4) -> None:
    wrong = Ga4MeasurementProtocol(MEASUREMENT_ID, "not-the-secret", endpoint=ga4.base_url)
    try:
        await wrong.send("c", [PURCHASE])  # 204: no error to see
    finally:
        await wrong.aclose()
    assert ga4.control.events() == []


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_outages_raise_for_the_job_to_retry(
    client: Ga4MeasurementProtocol, ga4: LocalGa4, status: int
) -> None:
    ga4.control.fail_next(status)

    with pytest.raises(Ga4Unavailable, match=str(status)) as raised:
        await client.send("c", [PURCHASE])

    assert API_SECRET not in str(raised.value)
    await client.send("c", [PURCHASE])
    assert len(ga4.control.events()) == 1


async def test_an_unreachable_endpoint_raises_without_the_secret() -> None:
    nobody = Ga4MeasurementProtocol(
        MEASUREMENT_ID, API_SECRET, endpoint=f"http://127.0.0.1:{free_port()}"
    )
    try:
        with pytest.raises(Ga4Unavailable, match="unreachable") as raised:
            await nobody.send("c", [PURCHASE])
    finally:
        await nobody.aclose()
    assert API_SECRET not in str(raised.value)
    assert raised.value.__cause__ is None


async def test_a_slow_answer_times_out() -> None:
    def stall(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(stall)) as http:
        stalled = Ga4MeasurementProtocol(MEASUREMENT_ID, API_SECRET, client=http)
        with pytest.raises(Ga4Unavailable, match="ReadTimeout"):
            await stalled.send("c", [PURCHASE])


def test_empty_credentials_are_refused() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        Ga4MeasurementProtocol(" ", API_SECRET)
