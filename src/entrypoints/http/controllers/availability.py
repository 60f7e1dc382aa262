"""Public availability: the free slots of an offering in a window."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from core.bookings import GetAvailability
from core.shared.ids import OfferingId
from entrypoints.http.auth import PUBLIC
from entrypoints.http.dto import SlotOut, time_window
from entrypoints.http.problems import PUBLIC_PROBLEMS, ok


class AvailabilityOut(msgspec.Struct, frozen=True):
    offering_id: uuid.UUID
    slots: list[SlotOut]


@get(
    "/offerings/{offering_id:str}/availability",
    summary="Free slots of an offering",
    description="Slots starting in [from, to), a window of at most 31 days. Instants need a "
    "UTC offset; answers are in UTC.",
    tags=["availability"],
    opt={PUBLIC: True},
    responses=PUBLIC_PROBLEMS,
)
async def availability(
    offering_id: FromPath[uuid.UUID],
    start: Annotated[datetime, QueryParameter(name="from")],
    end: Annotated[datetime, QueryParameter(name="to")],
    get_availability: NamedDependency[GetAvailability],
) -> AvailabilityOut:
    window = ok(time_window(start, end))
    slots = ok(await get_availability(OfferingId(offering_id), window))
    return AvailabilityOut(offering_id=offering_id, slots=[SlotOut.of(s) for s in slots])


ROUTES = [availability]
