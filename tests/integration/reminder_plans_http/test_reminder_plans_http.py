"""GET and PUT /providers/{provider_id}/reminder-plan: the controller's routes in a Litestar app
with the house's problem handlers, over the in-memory messaging store (the container wiring is
the integrator's; the use cases' rules are tested in tests/unit/messaging)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from litestar import Litestar
from litestar.di import Provide
from litestar.testing import AsyncTestClient

from adapters.memory.messaging import InMemoryMessaging, messaging_in_memory
from core.messaging import GetReminderPlan, SetReminderPlan
from core.shared.ids import ProviderId
from core.shared.principal import Principal
from entrypoints.http.controllers import reminder_plans
from entrypoints.http.dependencies import provide
from entrypoints.http.problems import EXCEPTION_HANDLERS

PROVIDER = ProviderId(uuid.uuid4())


class Caller:
    principal: Principal


@pytest.fixture
def app_state() -> tuple[InMemoryMessaging, Caller]:
    return messaging_in_memory(datetime(2026, 3, 20, 9, tzinfo=UTC)), Caller()


@pytest.fixture
async def client(
    app_state: tuple[InMemoryMessaging, Caller],
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    messaging, caller = app_state

    async def principal() -> Principal:
        return caller.principal

    app = Litestar(
        route_handlers=reminder_plans.ROUTES,
        dependencies={
            "principal": Provide(principal),
            "get_reminder_plan": provide(lambda: messaging(GetReminderPlan)),
            "set_reminder_plan": provide(lambda: messaging(SetReminderPlan)),
        },
        exception_handlers=EXCEPTION_HANDLERS,
    )
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


async def test_staff_read_the_default_then_replace_the_plan(
    client: AsyncTestClient[Litestar], app_state: tuple[InMemoryMessaging, Caller]
) -> None:
    messaging, caller = app_state
    caller.principal = messaging.staff(PROVIDER)
    path = f"/providers/{PROVIDER}/reminder-plan"

    default = await client.get(path)
    replaced = await client.put(path, json={"offsets_minutes": [30, 2880]})
    again = await client.get(path)
    emptied = await client.put(path, json={"offsets_minutes": []})

    assert default.status_code == 200
    assert default.json() == {
        "provider_id": str(PROVIDER),
        "offsets_minutes": [1440, 120],
        "is_default": True,
        "moved_bookings": 0,
    }
    assert replaced.status_code == 200
    assert replaced.json()["offsets_minutes"] == [2880, 30]
    assert again.json()["is_default"] is False
    assert emptied.json()["offsets_minutes"] == []


@pytest.mark.parametrize(
    "body",
    [{"offsets_minutes": [10]}, {"offsets_minutes": [60, 60]}, {"offsets_minutes": [1] * 5}],
)
async def test_a_bad_plan_is_a_problem_and_changes_nothing(
    client: AsyncTestClient[Litestar],
    app_state: tuple[InMemoryMessaging, Caller],
    body: dict[str, list[int]],
) -> None:
    messaging, caller = app_state
    caller.principal = messaging.staff(PROVIDER)
    answer = await client.put(f"/providers/{PROVIDER}/reminder-plan", json=body)
    assert answer.status_code in (400, 422)
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert PROVIDER not in messaging.store.plans


async def test_another_providers_staff_are_forbidden(
    client: AsyncTestClient[Litestar], app_state: tuple[InMemoryMessaging, Caller]
) -> None:
    messaging, caller = app_state
    caller.principal = messaging.staff(ProviderId(uuid.uuid4()))
    path = f"/providers/{PROVIDER}/reminder-plan"
    assert (await client.get(path)).status_code == 403
    assert (await client.put(path, json={"offsets_minutes": [60]})).status_code == 403
