"""How the bookings context's failures look to a caller (see core.shared.problems)."""

from __future__ import annotations

from core.bookings.cursors import InvalidCursor
from core.bookings.model import (
    HoldExpired,
    InvalidTransition,
    OutsideBookingWindow,
    PaymentRequired,
    SessionFull,
    SlotUnavailable,
)
from core.shared.problems import ProblemKind, ProblemTable

PROBLEMS: ProblemTable = {
    SlotUnavailable: ProblemKind(status=409, slug="slot-unavailable", title="Slot unavailable"),
    SessionFull: ProblemKind(status=409, slug="session-full", title="Session full"),
    HoldExpired: ProblemKind(status=409, slug="hold-expired", title="Hold expired"),
    InvalidTransition: ProblemKind(
        status=409, slug="invalid-transition", title="Invalid booking transition"
    ),
    OutsideBookingWindow: ProblemKind(
        status=422, slug="outside-booking-window", title="Outside booking window"
    ),
    InvalidCursor: ProblemKind(status=400, slug="invalid-cursor", title="Invalid cursor"),
    PaymentRequired: ProblemKind(status=402, slug="payment-required", title="Payment required"),
}
