"""Analytics end to end on the real queue: an outbox event's dispatch_event queues a
track_event job only for a consenting person, and the worker sends it to the local GA4 fake
under a pseudonym; a person without consent produces no job and no GA4 event."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from jobs_support import eventually, job_rows
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.analytics import MemoryAnalyticsConsent
from adapters.postgis.jobs import TRACK_EVENT
from adapters.postgis.unit_of_work import PostgisUnitOfWork
from core.consent.analytics import CLIENT_ID_FIELD
from core.shared.events import Event
from core.shared.ids import UserId
from core.shared.unit_of_work import MAINTENANCE
from devservers.ga4_fake import API_SECRET, MEASUREMENT_ID, LocalGa4
from entrypoints.container import Container, build_container
from entrypoints.settings import Settings
from entrypoints.worker import InProcessWorker, WorkerOptions, start_in_process_worker
from entrypoints.worker.handlers import HANDLERS
from ga4_support import ga4, ga4_server

__all__ = ["ga4", "ga4_server"]  # fixtures

FAST = WorkerOptions(
    concurrency=2,
    heartbeat=timedelta(seconds=0.5),
    stalled_after=timedelta(seconds=2),
    recover_every=timedelta(seconds=0.5),
    poll_every=timedelta(seconds=0.2),
    graceful=timedelta(seconds=2),
)
CONSENTING = UserId(uuid.uuid4())
SILENT = UserId(uuid.uuid4())


@pytest.fixture
async def analytics_container(
    settings: Settings, engine: AsyncEngine, ga4: LocalGa4
) -> AsyncIterator[Container]:
    configured = settings.model_copy(
        update={
            "ga4_measurement_id": MEASUREMENT_ID,
            "ga4_api_secret": SecretStr(API_SECRET),
            "ga4_endpoint": ga4.base_url,
        }
    )
    built = build_container(configured)
    # The consent ledger is another branch's: a consent we set stands in for it.
    built.analytics_consent.override(MemoryAnalyticsConsent(CONSENTING))
    yield built
    await built.close()


@pytest.fixture
async def worker(analytics_container: Container) -> AsyncIterator[InProcessWorker]:
    running = start_in_process_worker(analytics_container, handlers=HANDLERS, options=FAST)
    yield running
    await running.stop()


def confirmed(customer: UserId) -> Event:
    return Event(
        name="bookings.booking_confirmed",
        occurred_at=datetime.now(UTC),
        payload={
            "booking_id": str(uuid.uuid4()),
            "offering_id": str(uuid.uuid4()),
            "provider_id": str(uuid.uuid4()),
            "customer_id": str(customer),
            "start": "2030-05-02T10:00:00+00:00",
            "end": "2030-05-02T11:00:00+00:00",
            "seats": 1,
            "status": "confirmed",
            "rescheduled_from": None,
            "paid": True,
            "price_minor": 4500,
            "currency": "EUR",
        },
    )


async def publish(engine: AsyncEngine, *events: Event) -> None:
    """As a use case does: outbox rows in a transaction (the trigger defers dispatch_event)."""
    async with PostgisUnitOfWork(engine, MAINTENANCE) as uow:
        await uow.outbox.add(*events)
        await uow.commit()


async def test_a_consenting_customers_booking_is_one_ga4_purchase_and_a_silent_ones_none(
    engine: AsyncEngine, analytics_container: Container, worker: InProcessWorker, ga4: LocalGa4
) -> None:
    await publish(engine, confirmed(CONSENTING), confirmed(SILENT))

    async def dispatched_and_tracked() -> bool:
        jobs = await job_rows(engine)
        return (
            len(jobs) == 3
            and all(job.status == "succeeded" for job in jobs)
            and len(ga4.control.events()) == 1
        )

    await eventually(dispatched_and_tracked)
    [event] = ga4.control.events()
    personal = analytics_container.personal_data()
    assert event["client_id"] == await personal.lookup_hash(str(CONSENTING), field=CLIENT_ID_FIELD)
    assert event["name"] == "purchase"
    assert {k: event["params"][k] for k in ("currency", "value", "quantity")} == {
        "currency": "EUR",
        "value": 45.0,
        "quantity": 1,
    }
    tracking = [job for job in await job_rows(engine) if job.task_name == TRACK_EVENT]
    assert len(tracking) == 1  # none for the customer without consent
    assert tracking[0].queue_name == "analytics"
    assert set(tracking[0].args) == {"event_id"}  # ids only
    [request] = ga4.control.requests()
    body = str(request["body"])
    assert str(CONSENTING) not in body
    assert str(SILENT) not in body


async def test_analytics_off_queues_nothing(
    engine: AsyncEngine, container: Container, ga4: LocalGa4
) -> None:
    container.analytics_consent.override(MemoryAnalyticsConsent(CONSENTING))
    event = confirmed(CONSENTING)
    await publish(engine, event)

    assert await container.queue_tracking()(event.id) is False
    assert [job.task_name for job in await job_rows(engine)] == ["dispatch_event"]
