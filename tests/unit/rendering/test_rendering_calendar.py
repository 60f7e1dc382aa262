"""Every .ics we write, read back by parsers we did not write: `ics` and `vobject`.

`ics` resolves a TZID by its IANA name (the system's zone files); `vobject` is made to read
times with the file's own VTIMEZONE, so between them they check both the names and the zones
the file describes.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import ics
import pytest
import vobject
import vobject.icalendar
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rendering_support import HOSTILE, utc

from adapters.rendering import IcalendarWriter
from core.messaging.model import CalendarEntry, CalendarMethod

WRITER = IcalendarWriter()
STAMP = utc(2026, 3, 20, 9, 0)


def entry(**changes: Any) -> CalendarEntry:
    fields: dict[str, Any] = {
        "uid": "booking-6f1c1c0e@reserva",
        "sequence": 0,
        "summary": "Morning yoga — Studio Mitte",
        "starts": utc(2026, 3, 27, 13, 0),
        "ends": utc(2026, 3, 27, 14, 30),
        "time_zone": "Europe/Berlin",
        "location": "Main hall, Torstraße 1, 10119 Berlin",
        "description": "2 seats\nhttps://app.reserva.test/bookings/6f1c1c0e",
        "stamp": STAMP,
    }
    return CalendarEntry(**(fields | changes))


def instant(value: datetime) -> datetime:
    """Compare instants in UTC: Python never finds an aware time in a repeated hour equal to
    a time in another zone."""
    return value.astimezone(UTC)


def read_with_vobject(data: bytes) -> Any:
    """vobject looks a TZID up in a process-wide table, filled by pytz (whose tables end in
    2037) unless a zone is there already: put this file's own VTIMEZONEs there (read by
    dateutil's tzical), so what is checked is the zone the file describes."""
    text = data.decode("utf-8")
    registry: dict[str, Any] = vars(vobject.icalendar)["__tzidMap"]
    registry.clear()
    vobject.icalendar.registerTzid("UTC", vobject.icalendar.utc)
    raw = vobject.readOne(text, transform=False)
    for zone in raw.contents.get("vtimezone", []):
        described = vobject.icalendar.TimezoneComponent.gettzinfo(zone)
        vobject.icalendar.registerTzid(zone.contents["tzid"][0].value, described)
    return vobject.readOne(text)


def read_with_ics(data: bytes) -> ics.Calendar:
    return ics.Calendar(data.decode("utf-8"))


def ics_sequence(event: Any) -> int:
    """ics 0.7 keeps SEQUENCE among the lines it has no attribute for."""
    (line,) = [line for line in event.extra if line.name == "SEQUENCE"]
    return int(line.value)


def _lines(data: bytes) -> Iterator[bytes]:
    assert data.endswith(b"\r\n")
    yield from data[:-2].split(b"\r\n")


def test_a_request_reads_back_in_both_parsers() -> None:
    data = WRITER.write([entry(sequence=3)], CalendarMethod.REQUEST)

    parsed = read_with_vobject(data)
    assert parsed.method.value == "REQUEST"
    assert parsed.version.value == "2.0"
    assert parsed.prodid.value.startswith("-//Reserva//")
    (event,) = parsed.vevent_list
    assert event.uid.value == "booking-6f1c1c0e@reserva"
    assert int(event.sequence.value) == 3
    assert b"\r\nDTSTART;TZID=Europe/Berlin:20260327T140000\r\n" in data
    assert instant(event.dtstart.value) == utc(2026, 3, 27, 13, 0)
    assert event.dtstart.value.utcoffset() == timedelta(hours=1)
    assert instant(event.dtend.value) == utc(2026, 3, 27, 14, 30)
    assert event.dtstamp.value == STAMP
    assert event.summary.value == "Morning yoga — Studio Mitte"
    assert event.location.value == "Main hall, Torstraße 1, 10119 Berlin"
    assert event.description.value == "2 seats\nhttps://app.reserva.test/bookings/6f1c1c0e"
    assert event.status.value == "CONFIRMED"
    assert parsed.vtimezone.tzid.value == "Europe/Berlin"

    other_calendar = read_with_ics(data)
    assert other_calendar.method == "REQUEST"
    (other,) = other_calendar.events
    assert other.uid == "booking-6f1c1c0e@reserva"
    assert ics_sequence(other) == 3
    assert str(other.begin.datetime.tzinfo).endswith("Europe/Berlin')")
    assert instant(other.begin.datetime) == utc(2026, 3, 27, 13, 0)
    assert other.begin.datetime.utcoffset() == timedelta(hours=1)
    assert instant(other.end.datetime) == utc(2026, 3, 27, 14, 30)
    assert other.location == "Main hall, Torstraße 1, 10119 Berlin"
    assert other.status == "CONFIRMED"


def test_the_file_is_crlf_folded_and_starts_with_the_calendar() -> None:
    long_summary = "A very long offering name " * 8
    data = WRITER.write([entry(summary=long_summary)], CalendarMethod.REQUEST)

    lines = list(_lines(data))
    assert lines[0] == b"BEGIN:VCALENDAR"
    assert lines[-1] == b"END:VCALENDAR"
    assert b"\n" not in b"".join(lines)  # every line ends with CRLF, none with a bare LF
    assert all(len(line) <= 75 for line in lines)  # folded by the library (RFC 5545 3.1)
    assert any(line.startswith(b" ") for line in lines)
    assert read_with_vobject(data).vevent.summary.value == long_summary.strip()


def test_a_cancellation_is_method_cancel_with_a_cancelled_event() -> None:
    data = WRITER.write([entry(sequence=4, cancelled=True)], CalendarMethod.CANCEL)

    parsed = read_with_vobject(data)
    assert parsed.method.value == "CANCEL"
    assert parsed.vevent.status.value == "CANCELLED"
    assert int(parsed.vevent.sequence.value) == 4
    assert parsed.vevent.uid.value == "booking-6f1c1c0e@reserva"
    other_calendar = read_with_ics(data)
    assert other_calendar.method == "CANCEL"
    (event,) = other_calendar.events
    assert event.status == "CANCELLED"
    assert ics_sequence(event) == 4
    assert b"METHOD:CANCEL\r\n" in data


def test_method_cancel_cancels_even_an_entry_not_marked() -> None:
    data = WRITER.write([entry()], CalendarMethod.CANCEL)

    assert read_with_vobject(data).vevent.status.value == "CANCELLED"


def test_a_reschedule_keeps_the_uid_and_raises_the_sequence() -> None:
    first = read_with_vobject(WRITER.write([entry(sequence=0)], CalendarMethod.REQUEST))
    moved = entry(sequence=1, starts=utc(2026, 4, 3, 12, 0), ends=utc(2026, 4, 3, 13, 30))
    second = read_with_vobject(WRITER.write([moved], CalendarMethod.REQUEST))

    assert first.vevent.uid.value == second.vevent.uid.value
    assert int(second.vevent.sequence.value) > int(first.vevent.sequence.value)
    # 3 April is summer time in Berlin: 14:00 CEST.
    assert instant(second.vevent.dtstart.value) == utc(2026, 4, 3, 12, 0)
    assert second.vevent.dtstart.value.utcoffset() == timedelta(hours=2)


def test_a_feed_publishes_every_entry_with_a_vtimezone_per_zone() -> None:
    entries = [
        entry(uid="a@reserva"),
        entry(uid="b@reserva", time_zone="America/New_York", cancelled=True, sequence=2),
        entry(uid="c@reserva", time_zone="Asia/Kolkata"),
        entry(uid="d@reserva", time_zone="UTC"),
    ]
    data = WRITER.write(entries, CalendarMethod.PUBLISH)

    parsed = read_with_vobject(data)
    assert parsed.method.value == "PUBLISH"
    zones = {zone.tzid.value for zone in parsed.vtimezone_list}
    assert {"Europe/Berlin", "America/New_York", "Asia/Kolkata"} <= zones
    by_uid = {event.uid.value: event for event in parsed.vevent_list}
    assert set(by_uid) == {"a@reserva", "b@reserva", "c@reserva", "d@reserva"}
    for event in by_uid.values():
        assert instant(event.dtstart.value) == utc(2026, 3, 27, 13, 0)
    assert by_uid["b@reserva"].status.value == "CANCELLED"
    assert by_uid["a@reserva"].status.value == "CONFIRMED"
    assert by_uid["c@reserva"].dtstart.value.utcoffset() == timedelta(hours=5, minutes=30)
    read_ics = {event.uid: event for event in read_with_ics(data).events}
    assert {uid: instant(e.begin.datetime) for uid, e in read_ics.items()} == dict.fromkeys(
        by_uid, utc(2026, 3, 27, 13, 0)
    )


def test_an_invitation_names_its_organizer() -> None:
    writer = IcalendarWriter(organizer="bookings@reserva.test", organizer_name="Reserva, Inc.")
    data = writer.write([entry()], CalendarMethod.REQUEST)

    event = read_with_vobject(data).vevent
    assert event.organizer.value == "mailto:bookings@reserva.test"
    assert event.organizer.params["CN"] == ["Reserva, Inc."]
    (other,) = read_with_ics(data).events
    assert other.organizer.email == "bookings@reserva.test"
    with pytest.raises(ValueError, match="email address"):
        IcalendarWriter(organizer="x\r\nATTENDEE:mailto:a@b")


def test_an_empty_feed_is_still_a_calendar() -> None:
    data = WRITER.write([], CalendarMethod.PUBLISH)

    assert read_with_vobject(data).method.value == "PUBLISH"
    assert read_with_ics(data).events == set()


def test_text_is_escaped_and_cleaned_of_bidi_and_control_characters() -> None:
    data = WRITER.write(
        [entry(summary=HOSTILE + ";,\\", location="Hall 1\r\nX-INJECTED:1")],
        CalendarMethod.REQUEST,
    )

    event = read_with_vobject(data).vevent
    assert event.summary.value == 'Yoga <script>alert("x")</script> & <b>bold</b> exe.pdf;,\\'
    assert event.location.value == "Hall 1  X-INJECTED:1"
    assert b"\r\nX-INJECTED" not in data
    assert "\u202e" not in data.decode()


def test_the_second_of_a_repeated_hour_is_written_in_utc() -> None:
    """On 25 October 2026 Berlin's clock shows 02:30 twice; RFC 5545 reads a TZID time as the
    first one, so the second (01:30 UTC) must not be written as 02:30 Europe/Berlin."""
    first = entry(starts=utc(2026, 10, 25, 0, 30), ends=utc(2026, 10, 25, 1, 30))
    second = entry(starts=utc(2026, 10, 25, 1, 30), ends=utc(2026, 10, 25, 2, 30))

    for written in (first, second):
        data = WRITER.write([written], CalendarMethod.REQUEST)
        assert instant(read_with_vobject(data).vevent.dtstart.value) == written.starts
        assert instant(next(iter(read_with_ics(data).events)).begin.datetime) == written.starts
    assert b"DTSTART;TZID=Europe/Berlin:20261025T023000" in WRITER.write(
        [first], CalendarMethod.REQUEST
    )
    assert b"DTSTART:20261025T013000Z" in WRITER.write([second], CalendarMethod.REQUEST)


@pytest.mark.parametrize(
    ("starts", "wall_clock"),
    [
        (utc(2026, 3, 29, 0, 30), b"20260329T013000"),  # before the change: 01:30 CET
        (utc(2026, 3, 29, 1, 0), b"20260329T030000"),  # the change itself: 03:00 CEST
        (utc(2026, 3, 29, 1, 30), b"20260329T033000"),  # after it: 03:30 CEST
    ],
)
def test_a_dst_day_reads_back_at_the_same_instant(starts: datetime, wall_clock: bytes) -> None:
    data = WRITER.write(
        [entry(starts=starts, ends=starts + timedelta(hours=1))], CalendarMethod.REQUEST
    )

    assert b"DTSTART;TZID=Europe/Berlin:" + wall_clock in data
    assert instant(read_with_vobject(data).vevent.dtstart.value) == starts
    assert instant(next(iter(read_with_ics(data).events)).begin.datetime) == starts


@pytest.mark.parametrize(
    "bad",
    [
        {"starts": datetime(2026, 3, 27, 13, 0)},  # naive
        {"ends": utc(2026, 3, 27, 13, 0)},  # not after the start
        {"sequence": -1},
    ],
)
def test_an_impossible_entry_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (each case has its own message)
        WRITER.write([entry(**bad)], CalendarMethod.REQUEST)


ZONES = sorted(zoneinfo.available_timezones())


@st.composite
def entries(draw: st.DrawFn) -> list[CalendarEntry]:
    count = draw(st.integers(min_value=1, max_value=3))
    drawn = []
    for number in range(count):
        starts = draw(
            st.datetimes(
                min_value=datetime(2000, 1, 1),
                max_value=datetime(2080, 12, 31),
                timezones=st.just(UTC),
            )
        ).replace(microsecond=0)
        length = draw(st.integers(min_value=1, max_value=48 * 60))
        drawn.append(
            entry(
                uid=f"{number}@reserva",
                sequence=draw(st.integers(min_value=0, max_value=10_000)),
                starts=starts,
                ends=starts + timedelta(minutes=length),
                time_zone=draw(st.sampled_from(ZONES)),
                cancelled=draw(st.booleans()),
            )
        )
    return drawn


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=entries(), method=st.sampled_from(list(CalendarMethod)))
def test_any_entry_reads_back_at_its_instant(
    drawn: list[CalendarEntry], method: CalendarMethod
) -> None:
    data = WRITER.write(drawn, method)

    parsed = read_with_vobject(data)
    assert parsed.method.value == method.value
    by_uid = {event.uid.value: event for event in parsed.vevent_list}
    other_calendar = read_with_ics(data)
    assert other_calendar.method == method.value
    by_uid_ics = {event.uid: event for event in other_calendar.events}
    for written in drawn:
        event = by_uid[written.uid]
        assert instant(event.dtstart.value) == written.starts, (written.time_zone, data.decode())
        assert instant(event.dtend.value) == written.ends, (written.time_zone, data.decode())
        assert int(event.sequence.value) == written.sequence
        cancelled = written.cancelled or method is CalendarMethod.CANCEL
        assert event.status.value == ("CANCELLED" if cancelled else "CONFIRMED")
        other = by_uid_ics[written.uid]
        assert instant(other.begin.datetime) == written.starts, written.time_zone
        assert instant(other.end.datetime) == written.ends, written.time_zone
        assert ics_sequence(other) == written.sequence
        assert other.status == event.status.value


def test_a_time_the_written_vtimezone_would_misplace_is_written_in_utc() -> None:
    """El Aaiun suspended DST for Ramadan in 2012 (+00 from 20 July to 20 August); the
    library's VTIMEZONE misses those transitions, so that wall time would read an hour off."""
    ramadan = entry(
        uid="0@reserva",
        starts=datetime(2012, 8, 1, tzinfo=UTC),
        ends=datetime(2012, 8, 1, 1, tzinfo=UTC),
        time_zone="Africa/El_Aaiun",
    )

    data = WRITER.write([ramadan], CalendarMethod.REQUEST)

    assert b"DTSTART:20120801T000000Z" in data
    event = read_with_vobject(data).vevent_list[0]
    assert instant(event.dtstart.value) == ramadan.starts
    assert instant(event.dtend.value) == ramadan.ends
