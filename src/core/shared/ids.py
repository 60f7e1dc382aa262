"""Typed identifiers. UUIDv4 strings keep them opaque and safe to expose."""

from __future__ import annotations

import uuid
from typing import NewType

ProviderId = NewType("ProviderId", uuid.UUID)
PlaceId = NewType("PlaceId", uuid.UUID)
ResourceId = NewType("ResourceId", uuid.UUID)
OfferingId = NewType("OfferingId", uuid.UUID)
OccurrenceId = NewType("OccurrenceId", uuid.UUID)
BookingId = NewType("BookingId", uuid.UUID)
UserId = NewType("UserId", uuid.UUID)
EventId = NewType("EventId", uuid.UUID)


def new_id() -> uuid.UUID:
    return uuid.uuid4()
