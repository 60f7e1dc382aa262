"""Opaque paging cursors shared by the memory and PostGIS adapters, so both read the same ones.

Clients may tamper with a cursor: one that does not decode gives None, and the adapters then
match nothing.
"""

from __future__ import annotations

import base64
import uuid


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
