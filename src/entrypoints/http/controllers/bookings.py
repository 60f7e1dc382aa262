"""Holds, their confirmation and every later transition; lists for customers and providers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter, JSONBody, SkipValidation
from returns.result import Result, Success

from core.bookings import (
    Booking,
    CompleteBooking,
    ConfirmBooking,
    GetBooking,
    HoldSlot,
    ListMyBookings,
    ListProviderBookings,
    MarkNoShow,
    ProviderBookings,
    RescheduleBooking,
    SlotRequest,
)
from core.payments import CancelWithRefund, GetHeldTerms
from core.shared.errors import InvalidInput
from core.shared.idempotency import IdempotencyStore
from core.shared.ids import BookingId, OccurrenceId, OfferingId, ProviderId, ResourceId
from core.shared.principal import Principal
from entrypoints.http.auth import SECURITY
from entrypoints.http.dto import (
    DEFAULT_LIMIT,
    After,
    AwareDatetime,
    BookingOut,
    BookingsPage,
    Limit,
    booking_cursor,
    instant,
    next_cursor,
    page,
)
from entrypoints.http.idempotency import HEADER, idempotent
from entrypoints.http.payments_dto import RefundOut, TermsOut
from entrypoints.http.problems import SIGNED_IN_PROBLEMS, documented, ok

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name=HEADER,
        min_length=1,
        max_length=255,
        description="Retry safely: the same key and body replay the first answer for 24 h.",
    ),
]


class SlotIn(msgspec.Struct, forbid_unknown_fields=True):
    """Appointments name `start` (and may pick a resource); sessions name the run."""

    offering_id: uuid.UUID
    start: AwareDatetime | None = None
    resource_id: uuid.UUID | None = None
    occurrence_id: uuid.UUID | None = None
    seats: Annotated[int, msgspec.Meta(ge=1, le=1_000)] = 1

    def request(self) -> Result[SlotRequest, InvalidInput]:
        start: Result[datetime | None, InvalidInput] = (
            Success(None) if self.start is None else instant("start", self.start)
        )
        return start.map(
            lambda at: SlotRequest(
                offering_id=OfferingId(self.offering_id),
                start=at,
                resource_id=None if self.resource_id is None else ResourceId(self.resource_id),
                occurrence_id=(
                    None if self.occurrence_id is None else OccurrenceId(self.occurrence_id)
                ),
                seats=self.seats,
            )
        )


class HeldOut(BookingOut, frozen=True, kw_only=True):
    """A new hold and the payment terms its customer accepts by holding: the refund policy
    and deposit a later payment refunds by, whatever the provider changes afterwards."""

    terms: TermsOut


class CancelledOut(BookingOut, frozen=True, kw_only=True):
    """The cancelled booking and the refunds its cancellation started (by the policy the
    customer accepted; in full when the provider cancels)."""

    refunds: list[RefundOut]


def _page_of(found: Sequence[Booking], limit: int) -> BookingsPage:
    return BookingsPage(
        items=[BookingOut.of(b) for b in found[:limit]],
        next=next_cursor(found, limit, booking_cursor),
    )


def _staff_page_of(found: ProviderBookings, limit: int) -> BookingsPage:
    erased = found.erased_customers
    return BookingsPage(
        items=[
            BookingOut.of(b, customer_erased=b.customer_id in erased)
            for b in found.bookings[:limit]
        ],
        next=next_cursor(found.bookings, limit, booking_cursor),
    )


# Customers see and act on their own bookings; staff on their provider's.
_read = partial(get, tags=["bookings"], security=SECURITY, responses=SIGNED_IN_PROBLEMS)
_act = partial(
    post, tags=["bookings"], security=SECURITY, responses=SIGNED_IN_PROBLEMS, status_code=200
)


@post(
    "/bookings",
    summary="Hold a slot",
    description="Creates a hold that expires unless confirmed (a priced hold is confirmed by "
    "paying for it: POST /bookings/{id}/payment). `terms` are the cancellation policy and "
    "deposit the customer accepts by holding. Send an Idempotency-Key to retry safely: a "
    "replayed answer carries `Idempotent-Replayed: true`.",
    tags=["bookings"],
    security=SECURITY,
    responses=SIGNED_IN_PROBLEMS,
)
async def hold(
    request: Request[Principal, Any, Any],
    data: JSONBody[SlotIn],
    principal: NamedDependency[Principal],
    hold_slot: NamedDependency[HoldSlot],
    get_held_terms: NamedDependency[GetHeldTerms],
    idempotency: NamedDependency[SkipValidation[IdempotencyStore]],  # a Protocol: no isinstance
    idempotency_key: IdempotencyKey = None,
) -> Response[HeldOut]:
    async def run() -> HeldOut:
        held = ok(await hold_slot(principal, ok(data.request())))
        terms = await get_held_terms(held.offering_id, held.created_at)
        return HeldOut(**msgspec.structs.asdict(BookingOut.of(held)), terms=TermsOut.of(terms))

    return await idempotent(
        store=idempotency,
        key=idempotency_key,
        principal=principal,
        request=request,
        body=data,
        run=run,
        status=201,
    )


@_read("/bookings", summary="My bookings, newest first")
async def list_mine(
    principal: NamedDependency[Principal],
    list_my_bookings: NamedDependency[ListMyBookings],
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> BookingsPage:
    return _page_of(ok(await list_my_bookings(principal, page(limit, after))), limit)


@_read(
    "/bookings/{booking_id:str}",
    summary="One booking",
    description="Its customer, its provider's staff or an admin. Staff and admins also get "
    '`customer`: its id and whether the person was erased ("erased customer": the booking '
    "stays in the schedule, pseudonymous).",
)
async def get_booking(
    booking_id: FromPath[uuid.UUID],
    principal: NamedDependency[Principal],
    get_booking: NamedDependency[GetBooking],
) -> BookingOut:
    return BookingOut.seen(ok(await get_booking(principal, BookingId(booking_id))))


@_act(
    "/bookings/{booking_id:str}/confirm",
    summary="Confirm a hold",
    description="Its customer confirms a free hold. A priced hold is confirmed by paying for "
    "it: its customer gets 402 payment-required. The provider's staff and admins may confirm "
    "a priced hold by hand, for a payment taken outside the platform (e.g. at the venue).",
    responses={**SIGNED_IN_PROBLEMS, **documented(402)},
)
async def confirm(
    booking_id: FromPath[uuid.UUID],
    principal: NamedDependency[Principal],
    confirm_booking: NamedDependency[ConfirmBooking],
) -> BookingOut:
    return BookingOut.of(ok(await confirm_booking(principal, BookingId(booking_id))))


@_act(
    "/bookings/{booking_id:str}/cancel",
    summary="Cancel a booking",
    description="Its customer, or its provider's staff or an admin (the provider cancels). "
    "What was paid is refunded by the terms in effect when the booking was held (by notice "
    "before the start; in full when the provider cancels): `refunds` are the refunds started.",
)
async def cancel(
    booking_id: FromPath[uuid.UUID],
    principal: NamedDependency[Principal],
    cancel_with_refund: NamedDependency[CancelWithRefund],
    get_booking: NamedDependency[GetBooking],
) -> CancelledOut:
    cancelled = ok(await cancel_with_refund(principal, BookingId(booking_id)))
    booking = BookingOut.seen(ok(await get_booking(principal, BookingId(booking_id))))
    refunds = [RefundOut.of(refund) for refund in cancelled.refunds]
    return CancelledOut(**msgspec.structs.asdict(booking), refunds=refunds)


@_act("/bookings/{booking_id:str}/complete", summary="Mark completed (staff)")
async def complete(
    booking_id: FromPath[uuid.UUID],
    principal: NamedDependency[Principal],
    complete_booking: NamedDependency[CompleteBooking],
) -> BookingOut:
    return BookingOut.of(ok(await complete_booking(principal, BookingId(booking_id))))


@_act("/bookings/{booking_id:str}/no-show", summary="Mark no-show (staff)")
async def no_show(
    booking_id: FromPath[uuid.UUID],
    principal: NamedDependency[Principal],
    mark_no_show: NamedDependency[MarkNoShow],
) -> BookingOut:
    return BookingOut.of(ok(await mark_no_show(principal, BookingId(booking_id))))


@_act(
    "/bookings/{booking_id:str}/reschedule",
    summary="Move a booking to another slot of the same offering",
    description="Atomic: the old slot is released only if the new one is secured. Answers "
    "the new booking; its `rescheduled_from` names the old one.",
)
async def reschedule(
    booking_id: FromPath[uuid.UUID],
    data: JSONBody[SlotIn],
    principal: NamedDependency[Principal],
    reschedule_booking: NamedDependency[RescheduleBooking],
) -> BookingOut:
    moved = await reschedule_booking(principal, BookingId(booking_id), ok(data.request()))
    return BookingOut.of(ok(moved))


@_read(
    "/providers/{provider_id:str}/bookings",
    summary="A provider's bookings (staff)",
    description="Newest first. Each booking carries `customer`: its id and whether the person "
    'was erased ("erased customer": the booking stays in the schedule, pseudonymous; '
    "`customer_id` is kept for compatibility).",
)
async def list_for_provider(
    provider_id: FromPath[uuid.UUID],
    principal: NamedDependency[Principal],
    list_provider_bookings: NamedDependency[ListProviderBookings],
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> BookingsPage:
    found = await list_provider_bookings(principal, ProviderId(provider_id), page(limit, after))
    return _staff_page_of(ok(found), limit)


ROUTES = [
    hold,
    list_mine,
    get_booking,
    confirm,
    cancel,
    complete,
    no_show,
    reschedule,
    list_for_provider,
]
