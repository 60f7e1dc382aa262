"""Observability over HTTP (docs/adr/0033): request ids in answers, logs, outbox events, jobs
and the worker; /metrics closed unless configured, per route template; Sentry events from the
real sdk at a local endpoint, scrubbed. The app, PostgreSQL and Redis are the real ones."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import sentry_sdk
import sqlalchemy as sa
import structlog
from http_support import TokenTable, next_hour, open_shop, session
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from adapters.memory.clock import FixedClock
from adapters.postgis.jobs import (
    DELIVER_WEBHOOK,
    DISPATCH_EVENT,
    EVENTS_QUEUE,
    WEBHOOKS_QUEUE,
    defer,
)
from adapters.redis.health import RedisReadiness
from core.shared.request_id import current_request_id
from devservers.net import free_port
from entrypoints.container import Container, build_container, http_services
from entrypoints.http.app import create_app
from entrypoints.metrics import DOMAIN_EVENTS, JOB_FAILURES
from entrypoints.observability import close_sentry
from entrypoints.settings import Settings
from entrypoints.worker import WorkerOptions, start_in_process_worker
from entrypoints.worker.handlers import dispatch_event
from live_server import serving
from sentry_receiver import SentryReceiver

OUR_ID = re.compile(r"[0-9a-f]{32}")
PROBLEM = "application/problem+json"
METRICS_TOKEN = "scraper-token-0123456789"


def observed(container: Container, **options: Any) -> Litestar:
    """The production app of `container` with these observability options changed."""
    services = http_services(container)
    return create_app(
        attrs.evolve(services, observability=attrs.evolve(services.observability, **options))
    )


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """(sample name, labels) -> value, from Prometheus' text exposition."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


# ---------------------------------------------------------------- request ids


async def test_every_answer_carries_a_request_id_of_its_own_404s_and_401s_too(
    client: httpx.AsyncClient,
) -> None:
    answers = [
        await client.get("/health/live"),
        await client.get("/no/such/path"),
        await client.get("/bookings"),  # no token: 401
    ]

    assert [a.status_code for a in answers] == [200, 404, 401]
    ids = [a.headers["x-request-id"] for a in answers]
    assert all(OUR_ID.fullmatch(i) for i in ids)
    assert len(set(ids)) == 3


async def test_a_clients_request_id_is_ignored_unless_a_trusted_proxy_header_is_configured(
    container: Container,
) -> None:
    offered = {"X-Request-ID": "proxy-0123456789"}
    async with AsyncTestClient(app=observed(container)) as untrusting:
        ignored = await untrusting.get("/health/live", headers=offered)
    async with AsyncTestClient(app=observed(container, request_id_header="X-Request-ID")) as c:
        taken = await c.get("/health/live", headers=offered)
        malformed = await c.get("/health/live", headers={"X-Request-ID": "has spaces ; in it"})
        too_long = await c.get("/health/live", headers={"X-Request-ID": "a" * 200})

    assert ignored.headers["x-request-id"] != offered["X-Request-ID"]
    assert taken.headers["x-request-id"] == offered["X-Request-ID"]
    assert OUR_ID.fullmatch(malformed.headers["x-request-id"])
    assert OUR_ID.fullmatch(too_long.headers["x-request-id"])


async def test_a_log_line_written_during_a_request_names_its_request_id(
    container: Container, capfd: pytest.CaptureFixture[str]
) -> None:
    """A readiness check against a Redis that is not there logs a warning in the request."""
    dead_redis = RedisReadiness(Redis.from_url(f"redis://127.0.0.1:{free_port()}/0"))
    app = observed(container, readiness={"redis": dead_redis.problems})
    async with AsyncTestClient(app=app) as client:
        answer = await client.get("/health/ready")

    assert answer.status_code == 503
    logged = [
        json.loads(line[line.index("{") :])
        for line in capfd.readouterr().err.splitlines()
        if "readiness check failed" in line
    ]
    assert [(line["check"], line["request_id"]) for line in logged] == [
        ("redis", answer.headers["x-request-id"])
    ]


async def _hold(client: httpx.AsyncClient, tokens: TokenTable, clock: FixedClock, rid: str) -> Any:
    shop = await open_shop(client, tokens)
    offering, run = await session(client, shop, capacity=3, first_start=next_hour(clock))
    body = {"offering_id": offering["id"], "occurrence_id": run, "seats": 1}
    answer = await client.post(
        "/bookings", json=body, headers=tokens.customer() | {"X-Request-ID": rid}
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["x-request-id"] == rid
    return answer.json()


async def test_the_request_id_reaches_outbox_events_their_jobs_and_the_worker_running_them(
    container: Container, tokens: TokenTable, clock: FixedClock
) -> None:
    rid = f"edge-{uuid.uuid4().hex}"
    async with AsyncTestClient(app=observed(container, request_id_header="X-Request-ID")) as c:
        booking = await _hold(c, tokens, clock, rid)

    async with container.engine().connect() as connection:
        events = (
            await connection.execute(
                sa.text("SELECT id, name, payload FROM outbox WHERE request_id = :r"), {"r": rid}
            )
        ).all()
        jobs = (
            await connection.execute(
                sa.text(
                    "SELECT task_name, args FROM procrastinate_jobs WHERE args->>'request_id' = :r"
                ),
                {"r": rid},
            )
        ).all()
    assert [e.payload.get("booking_id") for e in events] == [booking["id"]]
    [event] = events
    assert [(j.task_name, j.args["event_id"]) for j in jobs] == [(DISPATCH_EVENT, str(event.id))]

    seen: list[tuple[dict[str, Any], str | None, Any]] = []
    ours = asyncio.Event()

    async def record(worker_container: Any, args: dict[str, Any]) -> None:
        bound = structlog.contextvars.get_contextvars().get("request_id")
        seen.append((dict(args), current_request_id(), bound))
        await dispatch_event(worker_container, args)  # the real handler, which counts it
        if args.get("event_id") == str(event.id):
            ours.set()

    before = DOMAIN_EVENTS.labels(event.name)._value.get()
    worker = start_in_process_worker(
        container,
        1,
        [EVENTS_QUEUE],
        handlers={DISPATCH_EVENT: record},
        options=WorkerOptions(poll_every=timedelta(seconds=0.2)),
    )
    try:
        await asyncio.wait_for(ours.wait(), timeout=30)
    finally:
        await worker.stop()

    [(args, in_core, in_logs)] = [s for s in seen if s[0].get("event_id") == str(event.id)]
    assert "request_id" not in args  # the handler gets its ids, the run gets the request id
    assert in_core == in_logs == rid
    assert DOMAIN_EVENTS.labels(event.name)._value.get() >= before + 1


async def test_a_failed_webhook_delivery_counts_and_its_job_keeps_the_request_id(
    container: Container,
) -> None:
    """A job deferred from Python in a transaction that has a request id gets it too (the
    migration's trigger, not the caller); its failure counts under its task."""
    rid = f"job-{uuid.uuid4().hex}"
    async with container.engine().begin() as connection:
        await connection.execute(
            sa.text("SELECT set_config('app.request_id', :r, true)"), {"r": rid}
        )
        job_id = await defer(
            connection,
            DELIVER_WEBHOOK,
            {"delivery_id": str(uuid.uuid4()), "attempt": 1},
            queue=WEBHOOKS_QUEUE,
        )
    failed = asyncio.Event()
    runs: list[str | None] = []

    async def refused(_container: Any, args: dict[str, Any]) -> None:
        runs.append(current_request_id())
        if current_request_id() == rid:
            failed.set()
        raise RuntimeError("the endpoint answered 500")

    before = JOB_FAILURES.labels(DELIVER_WEBHOOK)._value.get()
    worker = start_in_process_worker(
        container,
        1,
        [WEBHOOKS_QUEUE],
        handlers={DELIVER_WEBHOOK: refused},
        options=WorkerOptions(poll_every=timedelta(seconds=0.2)),
    )
    try:
        # the worker's task counts the failure as the exception leaves the handler, before
        # it next yields to this one
        await asyncio.wait_for(failed.wait(), timeout=30)
    finally:
        await worker.stop()

    assert rid in runs
    assert JOB_FAILURES.labels(DELIVER_WEBHOOK)._value.get() >= before + 1
    async with container.engine().connect() as connection:
        args = (
            await connection.execute(
                sa.text("SELECT args FROM procrastinate_jobs WHERE id = :id"), {"id": job_id}
            )
        ).scalar_one()
    assert args["request_id"] == rid


# ---------------------------------------------------------------- /metrics


async def test_metrics_are_not_found_unless_configured(client: httpx.AsyncClient) -> None:
    answer = await client.get("/metrics")

    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith(PROBLEM)


async def test_metrics_with_a_token_need_it_and_count_requests_per_route_template(
    container: Container, tokens: TokenTable, clock: FixedClock
) -> None:
    someone = str(uuid.uuid4())
    app = observed(container, metrics_token=METRICS_TOKEN, request_id_header="X-Request-ID")
    async with AsyncTestClient(app=app) as c:
        await _hold(c, tokens, clock, f"m-{uuid.uuid4().hex}")  # an undispatched event
        await c.get(f"/bookings/{someone}", headers=tokens.customer())
        await c.get(f"/bookings/{someone}", headers=tokens.customer())
        anonymous = await c.get("/metrics")
        wrong = await c.get("/metrics", headers={"Authorization": "Bearer not-the-token-at-all"})
        scraped = await c.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})

    assert [anonymous.status_code, wrong.status_code, scraped.status_code] == [401, 401, 200]
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert anonymous.headers["content-type"].startswith(PROBLEM)
    assert scraped.headers["content-type"].startswith("text/plain")
    text = scraped.text
    assert someone not in text  # raw paths would make a series per id
    found = samples(text)
    route = "/bookings/{booking_id}"
    key = frozenset({"method": "GET", "route": route, "status": "404"}.items())
    assert found[("reserva_http_requests_total", key)] >= 2
    bucket = frozenset({"method": "GET", "route": route, "le": "+Inf"}.items())
    assert found[("reserva_http_request_duration_seconds_bucket", bucket)] >= 2
    assert found[("reserva_db_pool_size", frozenset({("pool", "bookings")}))] == 8
    assert ("reserva_db_pool_checked_out", frozenset({("pool", "main")})) in found
    assert found[("reserva_job_queue_depth", frozenset({("queue", EVENTS_QUEUE)}))] >= 1
    assert found[("reserva_job_queue_lag_seconds", frozenset({("queue", EVENTS_QUEUE)}))] >= 0
    assert found[("reserva_outbox_undelivered", frozenset())] >= 1
    assert found[("reserva_outbox_lag_seconds", frozenset())] >= 0
    assert ("reserva_webhook_deliveries_dead", frozenset()) in found


async def test_metrics_can_be_opened_to_anyone(container: Container) -> None:
    async with AsyncTestClient(app=observed(container, metrics_public=True)) as client:
        answer = await client.get("/metrics")

    assert answer.status_code == 200
    assert "reserva_http_requests_total" in answer.text


# ---------------------------------------------------------------- Sentry


@pytest.fixture
def sentry() -> Iterator[SentryReceiver]:
    receiver = SentryReceiver()
    try:
        yield receiver
    finally:
        close_sentry()
        receiver.close()


PERSONAL = {
    "email": "alice.personal@example.com",
    "password": "correct horse battery staple 42",
    "cookie": "session=s3cret-cookie-value",
    "token": "opaque-bearer-token-123456",
    "forwarded": "198.51.100.77",
}


async def test_an_error_reaches_sentry_scrubbed_and_tagged_with_its_request_id(
    sentry: SentryReceiver, redis_url: str, kek_file: Path
) -> None:
    """The database is away (nothing listens on its port): a 503 whose error Sentry gets,
    without the request's body, cookies, credentials, addresses or the email in its URL."""
    unreachable = f"postgresql+psycopg://reserva_app@127.0.0.1:{free_port()}/gone"
    settings = Settings(
        database_url=unreachable,
        redis_url=redis_url,
        kek_file=kek_file,
        sentry_dsn=sentry.dsn,
        sentry_environment="test",
        db_pool_timeout_seconds=2,
        rate_limit_requests=0,  # the limiter would fail first, outside the handler
    )
    app = create_app(http_services(build_container(settings)))
    async with serving(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        failed = await client.post(
            f"/auth/register?ref={PERSONAL['email']}",
            json={"email": PERSONAL["email"], "password": PERSONAL["password"]},
            headers={
                "Authorization": f"Bearer {PERSONAL['token']}",
                "Cookie": PERSONAL["cookie"],
                "X-Forwarded-For": PERSONAL["forwarded"],
            },
        )
    sentry_sdk.flush(timeout=5)

    assert failed.status_code == 503, failed.text
    events = sentry.events()
    assert events, "no event reached the local Sentry endpoint"
    assert {e["tags"]["request_id"] for e in events} == {failed.headers["x-request-id"]}
    event = events[0]
    assert event["environment"] == "test"
    assert event["exception"]["values"][-1]["type"] == "OperationalError"
    request = event["request"]
    assert "data" not in request
    assert "cookies" not in request
    headers = {name.lower() for name in request["headers"]}
    assert not headers & {"authorization", "cookie", "x-forwarded-for"}
    assert "ip_address" not in event.get("user", {})
    sent = json.dumps(events)
    for value in PERSONAL.values():
        assert value not in sent, value
    assert "s3cret" not in sent
    assert "127.0.0.1" not in sent
    assert "[email]" in sent  # redacted, not lost: the URL's query
    assert "[ip]" in sent  # the database's address in the error message
    frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
    assert frames
    assert all("vars" not in frame for frame in frames)
