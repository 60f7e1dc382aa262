"""docs/importing.md shows another program booking through the core: run it as that program."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from returns.result import Failure

from adapters.memory import in_memory, sample_catalog
from core import bookings as b
from core.shared import TimeRange

DOC = Path(__file__).parents[2] / "docs" / "importing.md"


def _example() -> str:
    found = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert found, "docs/importing.md lost its example"
    return found.group(1)


def test_the_documented_program_books_a_court_in_under_20_lines() -> None:
    code = _example()
    assert len([line for line in code.splitlines() if line.strip()]) < 20
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == "confirmed 2030-03-05T08:00:00+00:00\n"


async def test_as_the_doc_says_a_full_class_refuses_and_expired_holds_free_their_seats() -> None:
    app = in_memory(now=datetime(2030, 3, 4, 8, tzinfo=UTC))
    yoga = (await sample_catalog(app)).yoga
    tomorrow = TimeRange(app.clock.now(), app.clock.now() + timedelta(days=2))
    run = (await app(b.GetAvailability)(yoga.id, tomorrow)).unwrap()[0]
    seat = b.SlotRequest(offering_id=yoga.id, occurrence_id=run.occurrence_id)
    holds = [(await app(b.HoldSlot)(app.customer(), seat)).unwrap() for _ in range(12)]

    thirteenth = await app(b.HoldSlot)(app.customer(), seat)
    assert isinstance(thirteenth, Failure)
    assert isinstance(thirteenth.failure(), b.SessionFull)

    app.clock.advance(timedelta(minutes=11))  # past the default 10-minute hold
    late = (await app(b.HoldSlot)(app.customer(), seat)).unwrap()
    assert late.id not in {hold.id for hold in holds}


async def test_as_the_doc_says_a_customer_cannot_confirm_a_priced_hold_without_paying() -> None:
    app = in_memory(now=datetime(2030, 3, 4, 8, tzinfo=UTC))
    court = (await sample_catalog(app)).court
    tomorrow = TimeRange(app.clock.now() + timedelta(days=1), app.clock.now() + timedelta(days=2))
    slot = (await app(b.GetAvailability)(court.id, tomorrow)).unwrap()[0]
    me = app.customer()
    hold = await app(b.HoldSlot)(me, b.SlotRequest(offering_id=court.id, start=slot.during.start))

    confirmed = await app(b.ConfirmBooking)(me, hold.unwrap().id)

    assert confirmed == Failure(b.PaymentRequired(booking_id=hold.unwrap().id))
