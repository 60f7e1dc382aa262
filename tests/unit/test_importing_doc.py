"""docs/importing.md shows another program booking through the core: run it as that program."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from returns.result import Failure

from adapters.memory import in_memory
from core import bookings as b
from core.shared import Money

DOC = Path(__file__).parents[2] / "docs" / "importing.md"


def _example() -> str:
    found = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert found, "docs/importing.md lost its example"
    return found.group(1)


def test_the_documented_program_books_a_seat_in_under_20_lines() -> None:
    code = _example()
    assert len([line for line in code.splitlines() if line.strip()]) < 20
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == "held\n"


async def test_as_the_doc_says_a_full_class_refuses_and_expired_holds_free_their_seats() -> None:
    app = in_memory(now=datetime(2030, 3, 4, 8, tzinfo=UTC))
    club = (await app(b.CreateProvider)(app.admin, "Yoga Loft")).unwrap()
    address = b.Address(line1="Torstr. 1", city="Berlin", postal_code="10119", country="DE")
    new_place = b.NewPlace(
        provider_id=club.id, name="S", address=address, lat=52.5, lng=13.4, timezone="Europe/Berlin"
    )
    studio = (await app(b.AddPlace)(app.admin, new_place)).unwrap()
    hourly = b.BookingRules(duration=timedelta(hours=1), slot_step=timedelta(hours=1))
    offering = b.NewOffering(
        place_id=studio.id,
        kind=b.OfferingKind.SESSION,
        name="Flow",
        category="yoga",
        capacity=12,
        price=Money.parse("15.00", "EUR").unwrap(),
        rules=hourly,
    )
    flow = (await app(b.CreateOffering)(app.admin, offering)).unwrap()
    start = datetime(2030, 3, 5, 7, tzinfo=UTC)
    schedule = b.NewSchedule(offering_id=flow.id, first_start=start)
    runs = (await app(b.ScheduleSessions)(app.admin, schedule)).unwrap()
    seat = b.SlotRequest(offering_id=flow.id, occurrence_id=runs[0].id)
    holds = [(await app(b.HoldSlot)(app.customer(), seat)).unwrap() for _ in range(12)]

    thirteenth = await app(b.HoldSlot)(app.customer(), seat)
    assert isinstance(thirteenth, Failure)
    assert isinstance(thirteenth.failure(), b.SessionFull)

    app.clock.advance(timedelta(minutes=11))  # past the default 10-minute hold
    assert (await app(b.HoldSlot)(app.customer(), seat)).unwrap().id not in {h.id for h in holds}
