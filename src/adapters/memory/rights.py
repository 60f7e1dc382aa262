"""In-memory exports and erasures for the core's unit tests: plain values (the PostGIS store
seals exports), a unit of work on a copy written back on `commit()`, the jobs it deferred, and
`MemoryPersonalRecords`, a store of personal values that implements `PersonalRecords`."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime

import attrs

from adapters.memory.outbox import MemoryOutbox
from adapters.memory.transaction import MemoryTransaction
from core.consent.records import Json, PersonalRecords
from core.consent.rights_ports import (
    ErasureRequest,
    Erasures,
    Export,
    ExportId,
    Exports,
    RightsJobs,
    RightsUnitOfWork,
)
from core.shared.ids import UserId
from core.shared.unit_of_work import Access


@attrs.define
class _State:
    exports: dict[ExportId, Export] = attrs.Factory(dict)
    contents: dict[ExportId, str] = attrs.Factory(dict)
    links: dict[str, ExportId] = attrs.Factory(dict)
    erasures: dict[UserId, ErasureRequest] = attrs.Factory(dict)
    jobs: list[tuple[str, str]] = attrs.Factory(list)  # (task, id) committed, in order


class MemoryRightsDatabase:
    """The committed rows; calling it opens a unit of work (the use cases' factory)."""

    def __init__(self) -> None:
        self.state = _State()

    def __call__(self, access: Access) -> MemoryRightsUnitOfWork:
        return MemoryRightsUnitOfWork(self)

    @property
    def jobs(self) -> list[tuple[str, str]]:
        return self.state.jobs


class _Exports(Exports):
    def __init__(self, state: _State) -> None:
        self._s = state

    async def add(self, export: Export) -> None:
        self._s.exports[export.id] = export

    async def get(self, export_id: ExportId) -> Export | None:
        return self._s.exports.get(export_id)

    async def latest(self, person: UserId) -> Export | None:
        mine = [e for e in self._s.exports.values() if e.person == person]
        return max(mine, key=lambda e: e.requested_at, default=None)

    async def store(self, export: Export, content: str) -> None:
        self._s.exports[export.id] = export
        self._s.contents[export.id] = content

    async def set_link(self, export_id: ExportId, token_hash: str, expires_at: datetime) -> None:
        for digest in [d for d, e in self._s.links.items() if e == export_id]:
            del self._s.links[digest]
        self._s.links[token_hash] = export_id
        export = self._s.exports[export_id]
        self._s.exports[export_id] = attrs.evolve(export, link_expires_at=expires_at)

    async def by_link(self, token_hash: str) -> tuple[Export, str | None] | None:
        export_id = self._s.links.get(token_hash)
        if export_id is None or export_id not in self._s.exports:
            return None
        return self._s.exports[export_id], self._s.contents.get(export_id)

    async def remove_for(self, person: UserId) -> int:
        gone = [i for i, e in self._s.exports.items() if e.person == person]
        for export_id in gone:
            del self._s.exports[export_id]
            self._s.contents.pop(export_id, None)
        self._s.links = {d: e for d, e in self._s.links.items() if e not in gone}
        return len(gone)


class _Erasures(Erasures):
    def __init__(self, state: _State) -> None:
        self._s = state

    async def get(self, person: UserId) -> ErasureRequest | None:
        return self._s.erasures.get(person)

    async def add(self, request: ErasureRequest) -> bool:
        if request.person in self._s.erasures:
            return False
        self._s.erasures[request.person] = request
        return True

    async def save(self, request: ErasureRequest) -> None:
        self._s.erasures[request.person] = request


class _Jobs(RightsJobs):
    def __init__(self, state: _State) -> None:
        self._s = state

    async def build_export(self, export_id: ExportId) -> None:
        self._s.jobs.append(("build_export", str(export_id)))

    async def erase_person(self, person: UserId) -> None:
        self._s.jobs.append(("erase_person", str(person)))


class MemoryRightsUnitOfWork(MemoryTransaction, RightsUnitOfWork):
    def __init__(self, database: MemoryRightsDatabase) -> None:
        self._database = database
        self._state = copy.deepcopy(database.state)
        self.exports = _Exports(self._state)
        self.erasures = _Erasures(self._state)
        self.jobs = _Jobs(self._state)
        self.outbox = MemoryOutbox()

    def _discard(self) -> None:
        return None  # the snapshot taken at the start is never written back

    async def commit(self) -> None:
        self._database.state = copy.deepcopy(self._state)


class MemoryPersonalRecords(PersonalRecords):
    """A store of personal values per person, e.g. a fake "messages" section: `erase` drops
    the person's values and notes that it ran."""

    def __init__(self, section: str, rows: Mapping[UserId, Json] | None = None) -> None:
        self._section = section
        self.rows: dict[UserId, Json] = dict(rows or {})
        self.erased: list[UserId] = []

    @property
    def section(self) -> str:
        return self._section

    async def export(self, person: UserId) -> Json:
        return self.rows.get(person, [])

    async def erase(self, person: UserId) -> None:
        self.rows.pop(person, None)
        self.erased.append(person)
