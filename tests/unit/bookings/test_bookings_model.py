"""Booking transitions, expired holds, and the shared values Money, TimeRange and GeoPoint."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from bookings_support import MINUTE, PROFILE, utc
from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Success

from core.bookings.model import (
    Booking,
    BookingStatus,
    CancelledBy,
    HoldExpired,
    InvalidTransition,
    OfferingKind,
)
from core.shared.errors import InvalidInput
from core.shared.geo import GeoPoint
from core.shared.ids import BookingId, OfferingId, ProviderId, UserId
from core.shared.money import Currency, CurrencyMismatch, Money
from core.shared.time import TimeRange

NOW = utc(2026, 6, 1, 9)
START = utc(2026, 6, 3, 10)
EUR = Money.of(1999, "EUR").unwrap()


def hold(**changes: Any) -> Booking:
    during = TimeRange(START, START + timedelta(hours=1))
    booking = Booking(
        id=BookingId(uuid.uuid4()),
        offering_id=OfferingId(uuid.uuid4()),
        provider_id=ProviderId(uuid.uuid4()),
        customer_id=UserId(uuid.uuid4()),
        kind=OfferingKind.APPOINTMENT,
        during=during,
        blocked=during.widen(timedelta(0), 15 * MINUTE),
        price=EUR,
        status=BookingStatus.HELD,
        hold_expires_at=NOW + 10 * MINUTE,
        created_at=NOW,
    )
    return attrs.evolve(booking, **changes)


def confirmed() -> Booking:
    return hold(status=BookingStatus.CONFIRMED)


# ---------------------------------------------------------------- transitions


def test_a_live_hold_confirms_and_says_so_in_an_event() -> None:
    booking, event = hold().confirm(NOW + 9 * MINUTE).unwrap()
    assert booking.status is BookingStatus.CONFIRMED
    assert event.name == "bookings.booking_confirmed"
    assert event.payload["status"] == "confirmed"
    assert event.occurred_at == NOW + 9 * MINUTE


def test_a_confirmation_by_hand_says_it_was_not_paid_through_the_platform() -> None:
    assert hold().confirm(NOW).unwrap()[1].payload["paid"] is False


@pytest.mark.parametrize(
    "before",
    [hold(), hold(hold_expires_at=NOW), hold(status=BookingStatus.EXPIRED)],
    ids=["live", "expired", "swept"],
)
def test_a_paid_hold_confirms_live_or_expired_and_no_longer_expires(before: Booking) -> None:
    booking, event = before.confirm_paid(NOW).unwrap()
    assert booking == attrs.evolve(before, status=BookingStatus.CONFIRMED, hold_expires_at=None)
    assert event.name == "bookings.booking_confirmed"
    assert (event.payload["status"], event.payload["paid"]) == ("confirmed", True)


@pytest.mark.parametrize(
    "status",
    [BookingStatus.CONFIRMED, BookingStatus.CANCELLED, BookingStatus.RESCHEDULED,
     BookingStatus.COMPLETED, BookingStatus.NO_SHOW],
)  # fmt: skip
def test_only_holds_confirm_when_paid(status: BookingStatus) -> None:
    assert hold(status=status).confirm_paid(NOW) == Failure(InvalidTransition(status, "confirm"))


def test_an_expired_hold_neither_confirms_nor_counts() -> None:
    expiry = NOW + 10 * MINUTE
    assert hold().is_live(expiry - timedelta(microseconds=1))
    assert not hold().is_live(expiry)
    assert hold().confirm(expiry) == Failure(HoldExpired())
    assert hold().cancel(expiry, CancelledBy.CUSTOMER) == Failure(
        InvalidTransition(BookingStatus.EXPIRED, "cancel")
    )


def test_only_a_hold_can_be_confirmed() -> None:
    assert confirmed().confirm(NOW) == Failure(
        InvalidTransition(BookingStatus.CONFIRMED, "confirm")
    )


@pytest.mark.parametrize("before", [hold(), confirmed()])
@pytest.mark.parametrize("by", list(CancelledBy))
def test_live_bookings_cancel_once_saying_who_cancelled_and_when(
    before: Booking, by: CancelledBy
) -> None:
    cancelled, event = before.cancel(NOW, by).unwrap()
    assert cancelled.status is BookingStatus.CANCELLED
    assert (cancelled.cancelled_at, cancelled.cancelled_by) == (NOW, by)
    assert event.name == "bookings.booking_cancelled"
    assert event.payload["cancelled_at"] == NOW.isoformat()
    assert event.payload["cancelled_by"] == by.value
    assert not cancelled.is_live(NOW)
    assert isinstance(cancelled.cancel(NOW, by), Failure)


def test_a_booking_not_cancelled_names_no_canceller() -> None:
    assert (hold().cancelled_at, hold().cancelled_by) == (None, None)
    assert (confirmed().cancelled_at, confirmed().cancelled_by) == (None, None)


def test_completion_needs_a_confirmed_booking_that_has_ended() -> None:
    end = START + timedelta(hours=1)
    assert isinstance(confirmed().complete(end - MINUTE), Failure)
    assert isinstance(hold().complete(end), Failure)
    completed, event = confirmed().complete(end).unwrap()
    assert completed.status is BookingStatus.COMPLETED
    assert event.name == "bookings.booking_completed"


def test_no_show_needs_a_confirmed_booking_that_has_started() -> None:
    assert isinstance(confirmed().no_show(START - MINUTE), Failure)
    assert isinstance(hold().no_show(START), Failure)
    assert confirmed().no_show(START).unwrap()[0].status is BookingStatus.NO_SHOW


def test_replace_releases_a_live_booking_only_before_it_starts() -> None:
    replaced, event = confirmed().replace(START - MINUTE).unwrap()
    assert replaced.status is BookingStatus.RESCHEDULED
    assert event.name == "bookings.booking_rescheduled"
    assert not replaced.is_live(NOW)
    assert confirmed().replace(START) == Failure(
        InvalidTransition(BookingStatus.CONFIRMED, "reschedule")
    )
    assert hold().replace(NOW + 10 * MINUTE) == Failure(
        InvalidTransition(BookingStatus.EXPIRED, "reschedule")
    )


@pytest.mark.parametrize(
    "status",
    [BookingStatus.CANCELLED, BookingStatus.EXPIRED, BookingStatus.RESCHEDULED],
)
def test_ended_bookings_are_not_live_and_move_nowhere(status: BookingStatus) -> None:
    booking = hold(status=status)
    assert not booking.is_live(NOW)
    for move in (booking.confirm, booking.replace, booking.complete):
        assert isinstance(move(NOW), Failure)
    assert isinstance(booking.cancel(NOW, CancelledBy.CUSTOMER), Failure)


def test_the_held_event_describes_the_booking() -> None:
    booking = hold()
    event = booking.held_event()
    assert event.name == "bookings.slot_held"
    assert event.occurred_at == booking.created_at
    assert event.payload["booking_id"] == str(booking.id)
    assert event.payload["start"] == START.isoformat()


# ---------------------------------------------------------------- Money


@pytest.mark.parametrize(("code", "exponent"), [("JPY", 0), ("EUR", 2), ("kwd", 3)])
def test_currencies_know_their_exponent(code: str, exponent: int) -> None:
    assert Currency.of(code) == Success(Currency(code.upper(), exponent))


def test_unknown_currencies_are_refused() -> None:
    assert isinstance(Currency.of("XXX"), Failure)
    assert isinstance(Money.of(100, "ABC"), Failure)


@pytest.mark.parametrize(
    ("amount", "code", "minor"),
    [("12.34", "EUR", 1234), ("12.3", "EUR", 1230), ("1500", "JPY", 1500), ("1.234", "KWD", 1234)],
)
def test_parse_scales_by_the_currency_exponent(amount: str, code: str, minor: int) -> None:
    assert Money.parse(amount, code).map(lambda m: m.minor) == Success(minor)


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        ("12.345", "EUR"),
        ("1.5", "JPY"),
        ("abc", "EUR"),
        ("NaN", "EUR"),
        ("sNaN", "EUR"),
        ("Infinity", "EUR"),
        ("1e999999", "EUR"),
        ("1e-999999", "EUR"),
        ("-1", "EUR"),
        ("1.0000000000000000000000000000001", "EUR"),
    ],
)
def test_parse_refuses_what_is_not_an_amount_of_that_currency(amount: str, code: str) -> None:
    result = Money.parse(amount, code)
    assert isinstance(result, Failure)
    assert isinstance(result.failure(), InvalidInput)


@PROFILE
@given(st.integers(0, 10**12), st.sampled_from(["EUR", "JPY", "KWD"]))
def test_parse_reads_back_what_as_decimal_str_writes(minor: int, code: str) -> None:
    money = Money.of(minor, code).unwrap()
    assert Money.parse(money.as_decimal_str(), code) == Success(money)


@PROFILE
@given(st.integers(0, 10**12), st.integers(1, 50))
def test_split_sums_exactly_and_differs_by_at_most_one_minor_unit(minor: int, parts: int) -> None:
    shares = Money.of(minor, "EUR").unwrap().split(parts)
    assert len(shares) == parts
    assert sum(s.minor for s in shares) == minor
    assert max(s.minor for s in shares) - min(s.minor for s in shares) <= 1
    assert [s.minor for s in shares] == sorted((s.minor for s in shares), reverse=True)


def test_mixing_currencies_raises() -> None:
    usd = Money.of(100, "USD").unwrap()
    with pytest.raises(CurrencyMismatch):
        _ = EUR + usd
    with pytest.raises(CurrencyMismatch):
        _ = EUR - usd
    with pytest.raises(CurrencyMismatch):
        min(EUR, usd)  # compares with <


def test_arithmetic_and_percent_round_half_to_even() -> None:
    assert (EUR + EUR).minor == 3998
    assert EUR.times(3).minor == 5997
    assert Money.of(250, "EUR").unwrap().percent(1).minor == 2  # 2.5 -> 2
    assert Money.of(350, "EUR").unwrap().percent(1).minor == 4  # 3.5 -> 4
    assert Money.of(5, "KWD").unwrap().as_decimal_str() == "0.005"


def test_amounts_out_of_range_are_refused() -> None:
    assert isinstance(Money.of(-1, "EUR"), Failure)
    assert isinstance(Money.of(10**15 + 1, "EUR"), Failure)


# ---------------------------------------------------------------- TimeRange


def test_time_ranges_are_half_open() -> None:
    morning = TimeRange(utc(2026, 1, 1, 9), utc(2026, 1, 1, 10))
    next_hour = TimeRange(utc(2026, 1, 1, 10), utc(2026, 1, 1, 11))
    assert not morning.overlaps(next_hour)
    assert morning.overlaps(TimeRange(utc(2026, 1, 1, 9, 59), utc(2026, 1, 1, 11)))
    assert morning.contains(morning)
    assert not morning.contains(morning.widen(MINUTE, timedelta(0)))
    assert morning.duration == timedelta(hours=1)


def test_widen_adds_buffers_on_both_sides() -> None:
    morning = TimeRange(utc(2026, 1, 1, 9), utc(2026, 1, 1, 10))
    assert morning.widen(5 * MINUTE, 10 * MINUTE) == TimeRange(
        utc(2026, 1, 1, 8, 55), utc(2026, 1, 1, 10, 10)
    )


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (utc(2026, 1, 1, 10), utc(2026, 1, 1, 10)),  # empty
        (utc(2026, 1, 1, 10), utc(2026, 1, 1, 9)),  # backwards
        (datetime(2026, 1, 1, 9), datetime(2026, 1, 1, 10)),  # naive
    ],
)
def test_time_ranges_refuse_bad_bounds(start: datetime, end: datetime) -> None:
    with pytest.raises(ValueError, match=r"range|UTC"):
        TimeRange(start, end)


# ---------------------------------------------------------------- GeoPoint


@pytest.mark.parametrize(
    ("lat", "lng"), [(91.0, 0.0), (-90.5, 0.0), (0.0, 180.5), (math.nan, 0.0), (0.0, math.inf)]
)
def test_geo_points_refuse_impossible_coordinates(lat: float, lng: float) -> None:
    assert isinstance(GeoPoint.of(lat, lng), Failure)


def test_distance_between_known_cities() -> None:
    berlin, paris = GeoPoint.of(52.52, 13.405).unwrap(), GeoPoint.of(48.8566, 2.3522).unwrap()
    assert 870_000 < berlin.distance_m(paris) < 885_000  # about 878 km


@PROFILE
@given(
    st.builds(GeoPoint, st.floats(-90, 90), st.floats(-180, 180)),
    st.builds(GeoPoint, st.floats(-90, 90), st.floats(-180, 180)),
)
def test_distance_is_symmetric_zero_to_itself_and_at_most_half_the_earth(
    a: GeoPoint, b: GeoPoint
) -> None:
    assert a.distance_m(a) == 0
    assert math.isclose(a.distance_m(b), b.distance_m(a), abs_tol=1e-6)
    assert 0 <= a.distance_m(b) <= math.pi * 6_371_008.8 + 1e-6


def test_time_ranges_normalise_other_offsets_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    span = TimeRange(
        datetime(2026, 1, 1, 9, tzinfo=plus_two), datetime(2026, 1, 1, 10, tzinfo=plus_two)
    )
    assert span.start == utc(2026, 1, 1, 7)
    assert span.start.tzinfo is UTC
