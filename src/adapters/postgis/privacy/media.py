"""The media's part of a person's export and erasure (`PersonalRecords`, section "photos").

Photos belong to providers, places and offerings (core.media.model.Owner), never to a person:
no column names who uploaded one. So a person's export lists no photo, and erasing a person
deletes none, in particular not the photos of a provider whose staff member is erased (they
are the provider's, and stay). The step exists so that the day media holds a person's own
pictures (an avatar), their deletion at Cloudinary has its place in the erasure's order.
"""

from __future__ import annotations

from core.consent.records import Json, PersonalRecords
from core.shared.ids import UserId


class MediaRecords(PersonalRecords):
    @property
    def section(self) -> str:
        return "photos"

    async def export(self, person: UserId) -> Json:
        return []

    async def erase(self, person: UserId) -> None:
        return None
