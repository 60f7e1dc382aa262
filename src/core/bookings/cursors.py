"""Paging cursors: what the memory and PostGIS adapters write into `next`, and what the use
cases check before a page is read.

A cursor is opaque to clients but not to us: the bookings and providers lists page by an id
(the last one of the previous page), search by its sort key (distance, offering id). A cursor
that does not decode, or that names a booking outside the list being read, is refused as
invalid input naming `after`, instead of quietly reading an empty page.
"""

from __future__ import annotations

import base64
import uuid

import attrs
from returns.result import Failure, Result, Success

from core.shared.errors import InvalidInput

FIELD = "after"  # the query parameter that carries a cursor


def parse_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def search_cursor(distance_m: float, offering_id: uuid.UUID) -> str:
    """The sort key (distance, id) of the last hit, as base64url of "distance|offering id"."""
    raw = f"{distance_m!r}|{offering_id}"  # repr round-trips the float exactly
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def search_key(cursor: str) -> tuple[float, uuid.UUID] | None:
    """The sort key inside a cursor made by `search_cursor`; None for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        distance_m, offering_id = raw.split("|")
        return float(distance_m), uuid.UUID(offering_id)
    except ValueError:  # also bad base64 (binascii.Error) and bad UTF-8
        return None


@attrs.frozen
class InvalidCursor(InvalidInput):
    """A malformed request rather than a wrong value: 400, naming the parameter."""


def invalid_cursor() -> InvalidCursor:
    return InvalidCursor(field=FIELD, reason="not a cursor of this list; use `next` as given")


def id_cursor(after: str | None) -> Result[uuid.UUID | None, InvalidCursor]:
    """The id a providers or bookings cursor names, if there is a cursor."""
    if after is None:
        return Success(None)
    found = parse_uuid(after)
    return Failure(invalid_cursor()) if found is None else Success(found)


def checked_search_cursor(after: str | None) -> Result[None, InvalidCursor]:
    if after is None or search_key(after) is not None:
        return Success(None)
    return Failure(invalid_cursor())
