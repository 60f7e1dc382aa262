"""Fakes for the rights' unit tests: a clock, re-authentication, a session ender, and a store of
personal values sealed per person (`SealedRecords`) whose raw bytes a test can scan."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from returns.result import Failure, Result, Success

from adapters.memory.personal import MemoryPersonalData
from core.consent import (
    Json,
    PersonalRecords,
    ReAuthentication,
    ReAuthenticationFailed,
    ReAuthenticationThrottled,
    SessionEnder,
)
from core.shared.ids import UserId

T0 = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)


class StepClock:
    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, by: timedelta) -> None:
        self.at += by


class Passwords(ReAuthentication):
    def __init__(self, passwords: dict[UserId, str]) -> None:
        self.passwords = passwords

    async def confirm(
        self, person: UserId, password: str
    ) -> Result[None, ReAuthenticationFailed | ReAuthenticationThrottled]:
        if self.passwords.get(person) == password:
            return Success(None)
        return Failure(ReAuthenticationFailed())


class Sessions(SessionEnder):
    def __init__(self) -> None:
        self.ended: list[UserId] = []

    async def end_all(self, person: UserId) -> None:
        self.ended.append(person)


class SealedRecords(PersonalRecords):
    """Values sealed per person. `keep=True`: erase keeps the sealed rows (pseudonymous, as
    payments must), relying on the shredded key; else it deletes them."""

    def __init__(self, section: str, personal: MemoryPersonalData, *, keep: bool) -> None:
        self._section = section
        self._personal = personal
        self._keep = keep
        self.rows: dict[UserId, list[bytes]] = {}

    @property
    def section(self) -> str:
        return self._section

    async def add(self, person: UserId, value: str) -> None:
        blob = await self._personal.seal(person, value, field=f"test.{self._section}")
        self.rows.setdefault(person, []).append(blob)

    async def export(self, person: UserId) -> Json:
        values = []
        for blob in self.rows.get(person, []):
            opened = await self._personal.open(person, blob, field=f"test.{self._section}")
            values.append(opened)
        return values

    async def erase(self, person: UserId) -> None:
        if not self._keep:
            self.rows.pop(person, None)

    def raw(self) -> bytes:
        return b"".join(b"".join(blobs) for blobs in self.rows.values())


def plain(document: object) -> str:
    return json.dumps(document, sort_keys=True)
