"""A person's export and erasure, over every store's `PersonalRecords` (issue 10 §3; docs/adr/
0027-export-and-erasure.md). The use cases know no table: the composition root hands them the
stores' records (export) and the named steps of an erasure, in order.

Export: `RequestExport` makes a PENDING row and defers `build_export`; `BuildExport` (the job)
gathers every section and stores the JSON (sealed by the adapter under the person's key);
`GetExport` answers the latest one's status and, once it is ready, hands out a fresh download
link (a random token, only its SHA-256 stored) that works for `RightsSettings.link_ttl`;
`DownloadExport` answers the content for a live link.

Erasure: `RequestErasure` needs the caller's current password, records the request, defers
`erase_person` and ends the person's sessions; `RunErasure` (the job, and the CLI) runs the
steps not done yet, recording each one as it completes, so a crash resumes at the next one.
Erasing twice is erasing once; erasing a person nobody knows only records that it was done.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime

import attrs
from returns.result import Failure, Result, Success

from core.consent.records import Json, PersonalRecords, export_time
from core.consent.rights_ports import (
    EXPORT_FORMAT,
    ErasureNotRequested,
    ErasureRequest,
    ErasureStep,
    Export,
    ExportGone,
    ExportId,
    ExportStatus,
    ExportView,
    PersonErasedError,
    ReAuthentication,
    ReAuthenticationFailed,
    ReAuthenticationThrottled,
    RightsSettings,
    RightsUnitOfWork,
    SessionEnder,
    UnknownExportLink,
)
from core.shared.ids import UserId
from core.shared.personal import PersonalData
from core.shared.principal import Principal
from core.shared.time import Clock
from core.shared.unit_of_work import MAINTENANCE, Access, UnitOfWorkFactory
from core.shared.use_case import UseCase

EXPORTS_STEP = "privacy.exports"  # RunErasure's own first step: the person's stored exports
HEADER_KEYS = frozenset({"format", "person", "generated_at"})


def link_digest(token: str) -> str:
    """What is stored of a download link's token."""
    return hashlib.sha256(token.encode()).hexdigest()


async def compile_export(
    records: Sequence[PersonalRecords], person: UserId, now: datetime
) -> dict[str, Json]:
    """The export document: the header, then one key per store's section."""
    document: dict[str, Json] = {
        "format": EXPORT_FORMAT,
        "person": str(person),
        "generated_at": export_time(now),
    }
    for store in records:
        if store.section in HEADER_KEYS or store.section in document:
            raise ValueError(f"export section {store.section!r} is taken")
        document[store.section] = await store.export(person)
    return document


def render_export(document: Mapping[str, Json]) -> str:
    return json.dumps(document, ensure_ascii=False, sort_keys=False, indent=None)


async def _erasure_asked(uow: RightsUnitOfWork, person: UserId) -> bool:
    return await uow.erasures.get(person) is not None


@attrs.frozen(kw_only=True)
class RequestExport(UseCase):
    """Start building a new export of the caller's data (a pending one is reused).
    Failure: PersonErasedError once their erasure was asked for."""

    uow: UnitOfWorkFactory[RightsUnitOfWork]
    clock: Clock

    async def __call__(self, person: UserId) -> Result[Export, PersonErasedError]:
        async with self.uow(Access.user(person)) as uow:
            if await _erasure_asked(uow, person):
                return Failure(PersonErasedError())
            latest = await uow.exports.latest(person)
            if latest is not None and latest.status is ExportStatus.PENDING:
                return Success(latest)
            export = await _start(uow, person, self.clock.now())
            await uow.commit()
        return Success(export)


async def _start(uow: RightsUnitOfWork, person: UserId, now: datetime) -> Export:
    export = Export(
        id=ExportId(uuid.uuid4()), person=person, status=ExportStatus.PENDING, requested_at=now
    )
    await uow.exports.add(export)
    await uow.jobs.build_export(export.id)
    return export


@attrs.frozen(kw_only=True)
class GetExport(UseCase):
    """The caller's latest export: pending (one is started if there is none, or the last one
    expired), or ready with a fresh download link (which replaces the previous one).
    Failure: PersonErasedError."""

    uow: UnitOfWorkFactory[RightsUnitOfWork]
    clock: Clock
    settings: RightsSettings

    async def __call__(self, person: UserId) -> Result[ExportView, PersonErasedError]:
        now = self.clock.now()
        async with self.uow(Access.user(person)) as uow:
            if await _erasure_asked(uow, person):
                return Failure(PersonErasedError())
            export = await uow.exports.latest(person)
            if export is None or export.expired(now):
                export = await _start(uow, person, now)
                await uow.commit()
                return Success(ExportView(export=export))
            if export.status is ExportStatus.PENDING:
                return Success(ExportView(export=export))
            token = secrets.token_urlsafe(32)
            expires = now + self.settings.link_ttl
            if export.expires_at is not None:
                expires = min(expires, export.expires_at)
            await uow.exports.set_link(export.id, link_digest(token), expires)
            await uow.commit()
        export = attrs.evolve(export, link_expires_at=expires)
        return Success(ExportView(export=export, token=token, link_expires_at=expires))


@attrs.frozen(kw_only=True)
class BuildExport(UseCase):
    """The job: gather every store's section and keep the export (sealed) until
    `keep_export` from now. A built or unknown export is left alone; an export of a person
    whose erasure was asked for is deleted instead."""

    uow: UnitOfWorkFactory[RightsUnitOfWork]
    clock: Clock
    settings: RightsSettings
    records: Sequence[PersonalRecords]

    async def __call__(self, export_id: ExportId) -> Result[Export | None, PersonErasedError]:
        async with self.uow(MAINTENANCE) as uow:
            export = await uow.exports.get(export_id)
            if export is None or export.status is not ExportStatus.PENDING:
                return Success(export)
            if await _erasure_asked(uow, export.person):
                await uow.exports.remove_for(export.person)
                await uow.commit()
                return Failure(PersonErasedError())
        now = self.clock.now()
        content = render_export(await compile_export(self.records, export.person, now))
        built = attrs.evolve(
            export,
            status=ExportStatus.READY,
            ready_at=now,
            expires_at=now + self.settings.keep_export,
        )
        async with self.uow(MAINTENANCE) as uow:
            if await _erasure_asked(uow, export.person):  # asked for while we gathered
                await uow.exports.remove_for(export.person)
                await uow.commit()
                return Failure(PersonErasedError())
            await uow.exports.store(built, content)
            await uow.commit()
        return Success(built)


@attrs.frozen(kw_only=True)
class ExportNow(UseCase):
    """An operator's export of one person, built at once and not stored (the CLI writes it).
    Failure: PersonErasedError."""

    uow: UnitOfWorkFactory[RightsUnitOfWork]
    clock: Clock
    records: Sequence[PersonalRecords]

    async def __call__(self, person: UserId) -> Result[dict[str, Json], PersonErasedError]:
        async with self.uow(MAINTENANCE) as uow:
            if await _erasure_asked(uow, person):
                return Failure(PersonErasedError())
        return Success(await compile_export(self.records, person, self.clock.now()))


@attrs.frozen(kw_only=True)
class DownloadExport(UseCase):
    """The content a download link names, while the link lives.
    Failures: UnknownExportLink, ExportGone (expired, or the export was deleted)."""

    uow: UnitOfWorkFactory[RightsUnitOfWork]
    clock: Clock

    async def __call__(self, token: str) -> Result[bytes, UnknownExportLink | ExportGone]:
        digest = link_digest(token)
        async with self.uow(Access.holding(digest)) as uow:
            found = await uow.exports.by_link(digest)
        if found is None:
            return Failure(UnknownExportLink())
        export, content = found
        now = self.clock.now()
        alive = export.link_expires_at is not None and now < export.link_expires_at
        if not alive or export.expired(now) or content is None:
            return Failure(ExportGone())
        return Success(content.encode())


@attrs.frozen(kw_only=True)
class RequestErasure(UseCase):
    """Erase the caller's account and data: needs their current password. Records the
    request, defers the job that runs it, and ends every session of theirs. Asking again
    answers the request already made.
    Failures: ReAuthenticationFailed, ReAuthenticationThrottled."""

    uow: UnitOfWorkFactory[RightsUnitOfWork]
    clock: Clock
    reauthentication: ReAuthentication
    sessions: SessionEnder

    async def __call__(
        self, caller: Principal, password: str
    ) -> Result[ErasureRequest, ReAuthenticationFailed | ReAuthenticationThrottled]:
        person = caller.user_id
        async with self.uow(Access.user(person)) as uow:
            existing = await uow.erasures.get(person)
        if existing is not None:
            return Success(existing)
        confirmed = await self.reauthentication.confirm(person, password)
        if isinstance(confirmed, Failure):
            return Failure(confirmed.failure())
        request = ErasureRequest(person=person, requested_at=self.clock.now(), requested_by="self")
        async with self.uow(Access.user(person)) as uow:
            if await uow.erasures.add(request):
                await uow.jobs.erase_person(person)
                await uow.commit()
            else:
                request = await uow.erasures.get(person) or request
        await self.sessions.end_all(person)
        return Success(request)


@attrs.frozen(kw_only=True)
class GetErasure(UseCase):
    """The caller's erasure request and how far it went. Failure: ErasureNotRequested."""

    uow: UnitOfWorkFactory[RightsUnitOfWork]

    async def __call__(self, person: UserId) -> Result[ErasureRequest, ErasureNotRequested]:
        async with self.uow(Access.user(person)) as uow:
            found = await uow.erasures.get(person)
        return Success(found) if found is not None else Failure(ErasureNotRequested())


@attrs.frozen(kw_only=True)
class RunErasure(UseCase):
    """Run the person's erasure to the end: each step not done yet, in order, each recorded
    in its own transaction once it succeeded. A step that raises leaves its name and the
    error's type as `last_error` and raises on (the job retries, resuming there). A person
    with no request gets one (`requested_by`, e.g. "operator" from the CLI)."""

    uow: UnitOfWorkFactory[RightsUnitOfWork]
    clock: Clock
    steps: Sequence[ErasureStep]

    async def __call__(
        self, person: UserId, *, requested_by: str = "operator"
    ) -> Result[ErasureRequest, ErasureNotRequested]:
        request = await self._request(person, requested_by)
        if request.completed:
            return Success(request)
        for step in (ErasureStep(name=EXPORTS_STEP, run=self._remove_exports), *self.steps):
            if step.name in request.steps_done:
                continue
            try:
                await step.run(person)
            except Exception as error:
                await self._save(
                    attrs.evolve(request, last_error=f"{step.name}: {type(error).__name__}")
                )
                raise
            request = attrs.evolve(request, steps_done=(*request.steps_done, step.name))
            await self._save(request)
        request = attrs.evolve(request, completed_at=self.clock.now(), last_error=None)
        await self._save(request)
        return Success(request)

    async def _request(self, person: UserId, requested_by: str) -> ErasureRequest:
        async with self.uow(MAINTENANCE) as uow:
            found = await uow.erasures.get(person)
            if found is not None:
                return found
            request = ErasureRequest(
                person=person, requested_at=self.clock.now(), requested_by=requested_by
            )
            if not await uow.erasures.add(request):  # a concurrent request won
                return await uow.erasures.get(person) or request
            await uow.commit()
        return request

    async def _remove_exports(self, person: UserId) -> None:
        async with self.uow(MAINTENANCE) as uow:
            await uow.exports.remove_for(person)
            await uow.commit()

    async def _save(self, request: ErasureRequest) -> None:
        async with self.uow(MAINTENANCE) as uow:
            await uow.erasures.save(request)
            await uow.commit()


def erasure_steps(
    *,
    before_shredding: Sequence[PersonalRecords],
    personal_data: PersonalData,
    after_shredding: Sequence[PersonalRecords],
) -> tuple[ErasureStep, ...]:
    """The steps of an erasure from the stores' records: those that need the person's values
    in clear first (forgetting addresses at a provider), then the key's destruction, then
    every other store. Each store's step is named `erase:<section>`."""
    return (
        *(_erase_step(store) for store in before_shredding),
        shred_step(personal_data),
        *(_erase_step(store) for store in after_shredding),
    )


def _erase_step(store: PersonalRecords) -> ErasureStep:
    return ErasureStep(name=f"erase:{store.section}", run=store.erase)


SHRED_STEP = "shred"


def shred_step(personal_data: PersonalData) -> ErasureStep:
    """Destroy the person's data key: every value sealed for them, anywhere, stops opening."""

    async def shred(person: UserId) -> None:
        await personal_data.shred(person)

    return ErasureStep(name=SHRED_STEP, run=shred)
