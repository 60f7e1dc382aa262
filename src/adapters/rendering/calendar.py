"""Bookings as iCalendar (RFC 5545) with the `icalendar` package.

Each entry is one VEVENT: UID stable for the booking chain, SEQUENCE from the caller, DTSTART/
DTEND in the place's zone (TZID) with a VTIMEZONE for every zone used, STATUS:CANCELLED when
the entry (or the whole calendar, METHOD:CANCEL) is cancelled. The library escapes text and
folds lines at 75 octets with CRLF endings.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo

import icalendar

from core.messaging.model import CalendarEntry, CalendarMethod
from core.messaging.ports import CalendarWriter
from core.shared.text import BIDI_CONTROLS

PRODID = "-//Reserva//Bookings 1.0//EN"


def _text(value: str, *, multiline: bool = False) -> str:
    """No control characters (a newline only where the property allows several lines) and no
    bidirectional overrides in what a calendar shows."""
    kept = []
    for char in value:
        if char in BIDI_CONTROLS:
            continue
        if unicodedata.category(char) == "Cc":
            kept.append("\n" if multiline and char == "\n" else " ")
        else:
            kept.append(char)
    return "".join(kept).strip()


def _utc(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime, got {value!r}")
    return value.astimezone(UTC)


def _vtimezone_span(entries: Sequence[CalendarEntry]) -> tuple[date, date]:
    """The years the VTIMEZONEs describe: a year before the first entry to a year after the
    last (clients use them only to place these events)."""
    first = min(entry.starts for entry in entries).year
    last = max(entry.ends for entry in entries).year
    return date(max(first - 1, 1), 1, 1), date(min(last + 2, 9999), 1, 1)


def _one_rdate_a_line(calendar: icalendar.Calendar) -> None:
    """The library lists a zone's transitions in one comma-separated RDATE; RFC 5545 allows
    that, but some readers (vobject) take only the first date. One RDATE per date is read
    alike by all of them."""
    for timezone in calendar.walk("VTIMEZONE"):
        for observance in timezone.subcomponents:
            if "RDATE" not in observance:
                continue
            listed = observance.pop("RDATE")
            trees = listed if isinstance(listed, list) else [listed]
            for moment in sorted(leaf.dt for tree in trees for leaf in tree.dts):
                observance.add("RDATE", moment)


def _utc_where_vtimezone_errs(calendar: icalendar.Calendar) -> None:
    """The library's VTIMEZONE can miss transitions of a zone that changes offset several
    times a year (Morocco's DST suspended for Ramadan, 2012: found by the round-trip property
    test); a reader would then place a wall time an hour off. Each time is read back through
    the VTIMEZONE as written, and one it misplaces is written in UTC instead."""
    written = {
        timezone.tz_name: timezone.to_tz(lookup_tzid=False) for timezone in calendar.timezones
    }
    for event in calendar.events:
        for name, value in (("DTSTART", event.DTSTART), ("DTEND", event.DTEND)):
            if not isinstance(value, datetime):
                continue
            zone = written.get(str(value.tzinfo))
            if zone is not None and value.astimezone(UTC) not in _readings(value, zone):
                event.pop(name)
                event.add(name, value.astimezone(UTC))


def _readings(value: datetime, zone: tzinfo) -> set[datetime]:
    """The instants a wall time names in `zone`: two in a repeated hour (_local keeps to the
    first), one otherwise."""
    return {value.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)}


def _local(instant: datetime, zone: ZoneInfo) -> datetime:
    """The instant on the place's wall clock (written with its TZID), unless that wall time
    is the second of a repeated hour: RFC 5545 reads an ambiguous local time as its first
    occurrence, so that one instant is written in UTC instead."""
    local = instant.astimezone(zone)
    if local.replace(fold=0).astimezone(UTC) != instant:
        return instant
    return local


class IcalendarWriter(CalendarWriter):
    """`organizer`: the address invitations come from (the platform's sender, e.g.
    "bookings@reserva.example"); RFC 5546 asks for an ORGANIZER in a REQUEST or CANCEL, and
    some clients only offer "add to calendar" when there is one."""

    def __init__(
        self,
        *,
        organizer: str | None = None,
        organizer_name: str = "Reserva",
        prodid: str = PRODID,
    ) -> None:
        if organizer is not None and ("@" not in organizer or any(c in organizer for c in ":\r\n")):
            raise ValueError(f"organizer must be an email address, got {organizer!r}")
        self._organizer = organizer
        self._organizer_name = organizer_name
        self._prodid = prodid

    def write(self, entries: Sequence[CalendarEntry], method: CalendarMethod) -> bytes:
        method = CalendarMethod(method)
        calendar = icalendar.Calendar()
        calendar.add("prodid", self._prodid)
        calendar.add("version", "2.0")
        calendar.add("calscale", "GREGORIAN")
        calendar.add("method", method.value)
        for entry in entries:
            event = self._event(entry, method)
            if self._organizer is not None:
                organizer = icalendar.vCalAddress(f"mailto:{self._organizer}")
                organizer.params["CN"] = icalendar.vText(_text(self._organizer_name))
                event.add("organizer", organizer)
            calendar.add_component(event)
        if entries:
            first, last = _vtimezone_span(entries)
            calendar.add_missing_timezones(first_date=first, last_date=last)
            _one_rdate_a_line(calendar)
            _utc_where_vtimezone_errs(calendar)
        ical: bytes = calendar.to_ical()
        return ical

    @staticmethod
    def _event(entry: CalendarEntry, method: CalendarMethod) -> icalendar.Event:
        zone = ZoneInfo(entry.time_zone)
        starts = _utc(entry.starts, "starts")
        ends = _utc(entry.ends, "ends")
        if ends <= starts:
            raise ValueError("a calendar entry must end after it starts")
        if entry.sequence < 0:
            raise ValueError("SEQUENCE is never negative")
        event = icalendar.Event()
        event.add("uid", entry.uid)
        event.add("sequence", entry.sequence)
        event.add("dtstamp", _utc(entry.stamp, "stamp"))
        event.add("dtstart", _local(starts, zone))
        event.add("dtend", _local(ends, zone))
        event.add("summary", _text(entry.summary))
        event.add("location", _text(entry.location))
        if entry.description:
            event.add("description", _text(entry.description, multiline=True))
        cancelled = entry.cancelled or method is CalendarMethod.CANCEL
        event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
        event.add("transp", "TRANSPARENT" if cancelled else "OPAQUE")
        return event
