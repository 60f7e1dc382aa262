"""Published events: written to the outbox in the same transaction as the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from core.shared.ids import EventId, new_id


@attrs.frozen(kw_only=True)
class Event:
    name: str
    occurred_at: datetime
    payload: dict[str, Any]
    id: EventId = attrs.field(factory=lambda: EventId(new_id()))
