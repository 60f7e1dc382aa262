"""A person's export and erasure (issue 10 §3): the values, errors and ports of the use cases in
`core.consent.rights` (docs/adr/0027-export-and-erasure.md).

An export is asked for, then built by a job from every store's `PersonalRecords`; its content
is kept sealed under the person's own key (the adapter seals it) and handed out through a
short-lived download link whose token is stored only as a SHA-256 digest. An erasure is one
row per person recording the named steps already done, so the job that runs them resumes
after a crash at the first step not done.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import NewType, Protocol

import attrs
from returns.result import Result

from core.shared.errors import DomainError
from core.shared.ids import UserId
from core.shared.problems import ProblemKind, ProblemTable, retry_after
from core.shared.unit_of_work import UnitOfWork

ExportId = NewType("ExportId", uuid.UUID)

EXPORT_FORMAT = "reserva-export/1"


class ExportStatus(enum.StrEnum):
    PENDING = "pending"  # asked for; a job builds it
    READY = "ready"  # built and stored sealed; links to it may be handed out


@attrs.frozen(kw_only=True)
class Export:
    id: ExportId
    person: UserId
    status: ExportStatus
    requested_at: datetime
    ready_at: datetime | None = None
    expires_at: datetime | None = None  # the content is kept until then (once ready)
    link_expires_at: datetime | None = None  # the latest download link works until then

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@attrs.frozen(kw_only=True)
class ExportView:
    """What a person is told about their latest export: with a link's token once it is ready."""

    export: Export
    token: str | None = attrs.field(default=None, repr=False)
    link_expires_at: datetime | None = None


@attrs.frozen(kw_only=True)
class ErasureRequest:
    person: UserId
    requested_at: datetime
    requested_by: str  # "self" (the person, re-authenticated) or "operator" (the CLI)
    steps_done: tuple[str, ...] = ()
    completed_at: datetime | None = None
    last_error: str | None = None  # the failing step and the error's type: never a value

    @property
    def completed(self) -> bool:
        return self.completed_at is not None


@attrs.frozen(kw_only=True)
class ErasureStep:
    """One named, idempotent part of an erasure: `run(person)` raises if it must be retried."""

    name: str
    run: Callable[[UserId], Awaitable[None]]


@attrs.frozen(kw_only=True)
class RightsSettings:
    link_ttl: timedelta = timedelta(minutes=15)  # a download link works this long
    keep_export: timedelta = timedelta(days=1)  # a built export is kept (sealed) this long


# --- errors -----------------------------------------------------------------------------------


@attrs.frozen
class PersonErasedError(DomainError):
    """The person was erased (or their erasure was asked for): nothing is exported any more."""

    @property
    def detail(self) -> str:
        return "this person's data was erased"


@attrs.frozen
class ExportGone(DomainError):
    """The link expired, or the export it named was deleted."""

    @property
    def detail(self) -> str:
        return "this download link expired; ask for the export again (GET /me/export)"


@attrs.frozen
class UnknownExportLink(DomainError):
    @property
    def detail(self) -> str:
        return "no export has this link"


@attrs.frozen
class ReAuthenticationFailed(DomainError):
    @property
    def detail(self) -> str:
        return "erasing your account needs your current password; the one given is wrong"


@attrs.frozen
class ReAuthenticationThrottled(DomainError):
    retry_after_seconds: float = 60.0

    @property
    def detail(self) -> str:
        return "too many wrong passwords; wait before trying again"


@attrs.frozen
class ErasureNotRequested(DomainError):
    @property
    def detail(self) -> str:
        return "no erasure was asked for"


RIGHTS_PROBLEMS: ProblemTable = {
    PersonErasedError: ProblemKind(status=404, slug="person-erased", title="Person erased"),
    ExportGone: ProblemKind(status=410, slug="export-gone", title="Export link expired"),
    UnknownExportLink: ProblemKind(status=404, slug="export-not-found", title="Export not found"),
    ReAuthenticationFailed: ProblemKind(
        status=403, slug="reauthentication-failed", title="Re-authentication failed"
    ),
    ReAuthenticationThrottled: ProblemKind(
        status=429,
        slug="reauthentication-throttled",
        title="Too many attempts",
        headers=lambda error: retry_after(getattr(error, "retry_after_seconds", 60.0)),
    ),
    ErasureNotRequested: ProblemKind(
        status=404, slug="erasure-not-requested", title="No erasure requested"
    ),
}


# --- ports ------------------------------------------------------------------------------------


class Exports(Protocol):
    """Export rows. The adapter seals the content under the person's key ("privacy.export")."""

    async def add(self, export: Export) -> None: ...

    async def get(self, export_id: ExportId) -> Export | None: ...

    async def latest(self, person: UserId) -> Export | None:
        """The person's most recently requested export."""
        ...

    async def store(self, export: Export, content: str) -> None:
        """Save `export` (now READY) with its built JSON `content`."""
        ...

    async def set_link(self, export_id: ExportId, token_hash: str, expires_at: datetime) -> None:
        """The export's one current link (replacing any earlier one)."""
        ...

    async def by_link(self, token_hash: str) -> tuple[Export, str | None] | None:
        """The export a link's digest names and its content (None if it no longer opens)."""
        ...

    async def remove_for(self, person: UserId) -> int:
        """Delete every export of the person; how many."""
        ...


class Erasures(Protocol):
    async def get(self, person: UserId) -> ErasureRequest | None: ...

    async def add(self, request: ErasureRequest) -> bool:
        """Record a new request; False (and nothing written) if the person has one."""
        ...

    async def save(self, request: ErasureRequest) -> None:
        """Write the steps done, completion and last error of an existing request."""
        ...


class RightsJobs(Protocol):
    """Jobs deferred in the unit of work's transaction (ids only in their arguments)."""

    async def build_export(self, export_id: ExportId) -> None: ...

    async def erase_person(self, person: UserId) -> None: ...


class RightsUnitOfWork(UnitOfWork, Protocol):
    exports: Exports
    erasures: Erasures
    jobs: RightsJobs


class ReAuthentication(Protocol):
    """Whether the caller proved again who they are: their current password (identity checks
    it, throttled like a sign-in)."""

    async def confirm(
        self, person: UserId, password: str
    ) -> Result[None, ReAuthenticationFailed | ReAuthenticationThrottled]: ...


class SessionEnder(Protocol):
    """Ends every session of a person at once (their tokens are refused from now on)."""

    async def end_all(self, person: UserId) -> None: ...
