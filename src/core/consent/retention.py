"""How long each class of data is kept, and the use case that enforces it (issue 10, section 4;
docs/adr/0028-retention.md, docs/privacy.md "## Retention").

`RETENTION` is the one table: every data class, its period, why, and what happens when the
period is over. docs/privacy.md repeats it word for word (a unit test compares them). A period
runs from the moment named in `starts` (a session's end, a message's creation, ...).

`EnforceRetention` walks the table: for each class it counts what is past its period (dry run)
or removes it in bounded batches, each batch its own short transaction, until a batch comes
back short. Abandoned accounts are not deleted here: each one goes through the erasure of the
person (`erase`), so every store forgets them the way a requested erasure would.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

import attrs

from core.shared.ids import UserId
from core.shared.time import Clock
from core.shared.use_case import UseCase


class DataClass(enum.StrEnum):
    AUTH_SESSIONS = "auth_sessions"
    REFRESH_TOKENS = "refresh_tokens"
    ONE_TIME_TOKENS = "one_time_tokens"
    AUDIT_CLIENTS = "audit_clients"
    MESSAGES = "messages"
    EXPIRED_HOLDS = "expired_holds"
    ABANDONED_ACCOUNTS = "abandoned_accounts"
    FINISHED_JOBS = "finished_jobs"
    DEAD_JOBS = "dead_jobs"
    PRIVACY_EXPORTS = "privacy_exports"
    WEBHOOK_DELIVERIES = "webhook_deliveries"


class Action(enum.StrEnum):
    DELETE = "delete"
    ERASE = "erase the person"


@attrs.frozen(kw_only=True)
class Rule:
    data: DataClass
    what: str  # the rows, in words
    period: timedelta
    starts: str  # the moment the period runs from
    action: Action
    why: str


DAY = timedelta(days=1)
RETENTION: tuple[Rule, ...] = (
    Rule(
        data=DataClass.AUTH_SESSIONS,
        what="login sessions (IP address, user agent) and their refresh tokens",
        period=30 * DAY,
        starts="the session ended (revoked or expired)",
        action=Action.DELETE,
        why="the person's list of recent sessions and the investigation of a stolen login",
    ),
    Rule(
        data=DataClass.REFRESH_TOKENS,
        what="refresh tokens of sessions that ended",
        period=DAY,
        starts="the session ended (revoked or expired)",
        action=Action.DELETE,
        why="they can never refresh again; one day lets a replayed stolen token be recognised",
    ),
    Rule(
        data=DataClass.ONE_TIME_TOKENS,
        what="email verification, password reset and MFA challenge tokens, used or expired",
        period=7 * DAY,
        starts="the token was used or expired",
        action=Action.DELETE,
        why="answering 'my link did not work' for a few days",
    ),
    Rule(
        data=DataClass.AUDIT_CLIENTS,
        what="IP address and user agent of audit entries (the entries themselves are kept)",
        period=90 * DAY,
        starts="the audited action",
        action=Action.DELETE,
        why="investigating account takeovers and abuse; the hash-chained entry stays as proof",
    ),
    Rule(
        data=DataClass.MESSAGES,
        what="emails and WhatsApp messages no longer in flight (sent, delivered, failed, ...)",
        period=365 * DAY,
        starts="the message was created",
        action=Action.DELETE,
        why="answering complaints and card disputes about what the customer was told",
    ),
    Rule(
        data=DataClass.EXPIRED_HOLDS,
        what="holds that expired without payment (no payment attempt, not rescheduled)",
        period=7 * DAY,
        starts="the hold expired",
        action=Action.DELETE,
        why="support questions about a slot that was lost; nothing was bought",
    ),
    Rule(
        data=DataClass.ABANDONED_ACCOUNTS,
        what="accounts never verified, without any booking, not staff or admin",
        period=30 * DAY,
        starts="the account was created",
        action=Action.ERASE,
        why="the person may still verify; after a month the account is abandoned",
    ),
    Rule(
        data=DataClass.FINISHED_JOBS,
        what="job queue records that succeeded, were cancelled or aborted (ids only)",
        period=7 * DAY,
        starts="the job's last event",
        action=Action.DELETE,
        why="operators look at recent jobs (`reserva jobs list`)",
    ),
    Rule(
        data=DataClass.DEAD_JOBS,
        what="jobs that failed for good, with their recorded errors",
        period=90 * DAY,
        starts="the job's last event",
        action=Action.DELETE,
        why="an operator retries or cancels them; errors may quote a provider's answer",
    ),
    Rule(
        data=DataClass.PRIVACY_EXPORTS,
        what="a person's data exports (the download)",
        period=timedelta(0),
        starts="the download link expired",
        action=Action.DELETE,
        why="the person downloaded it or may ask again; a copy must not linger",
    ),
    Rule(
        data=DataClass.WEBHOOK_DELIVERIES,
        what="integrators' webhook deliveries done or dead (payload, responses)",
        period=30 * DAY,
        starts="the delivery was created",
        action=Action.DELETE,
        why="integrators debug their endpoint with recent deliveries",
    ),
)
RULES: dict[DataClass, Rule] = {rule.data: rule for rule in RETENTION}


def period_text(period: timedelta) -> str:
    """A period as the table in the docs writes it: "at once", "1 day", "30 days"."""
    days = period.days
    if period == timedelta(0):
        return "at once"
    return "1 day" if days == 1 else f"{days} days"


class RetentionStore(Protocol):
    """The stores' side of retention: one method pair over every class but abandoned accounts.

    `count` says how many items of `data` are past `cut` (their period ran out before it); None
    when this database has no such store (a table a later release brings). `sweep` removes at
    most `batch` of them in one short transaction and says how many went: the caller calls it
    again until fewer than `batch` go. Each call skips rows another transaction holds.
    """

    async def count(self, data: DataClass, cut: datetime) -> int | None: ...

    async def sweep(self, data: DataClass, cut: datetime, batch: int) -> int: ...


class AbandonedAccounts(Protocol):
    """Accounts created before `before`, never verified, with no booking, not staff/admin."""

    async def count(self, before: datetime) -> int: ...

    async def list(self, before: datetime, limit: int) -> Sequence[UserId]:
        """At most `limit` of them, oldest first."""
        ...


# The erasure of a person (core.consent.rights); the container wires it.
Erase = Callable[[UserId], Awaitable[None]]


@attrs.frozen(kw_only=True)
class ClassReport:
    rule: Rule
    count: int | None  # None: not enforced here (no such store in this database, or no erasure)


@attrs.frozen(kw_only=True)
class RetentionReport:
    dry_run: bool
    at: datetime
    classes: tuple[ClassReport, ...]

    def count(self, data: DataClass) -> int | None:
        return next(item.count for item in self.classes if item.rule.data is data)


@attrs.frozen(kw_only=True)
class EnforceRetention(UseCase):
    """Remove (or with `dry_run`, count) everything past its period, class by class."""

    store: RetentionStore
    accounts: AbandonedAccounts
    erase: Erase | None  # None until erasure is wired: abandoned accounts are then only counted
    clock: Clock
    batch: int = 1000
    rules: tuple[Rule, ...] = RETENTION

    async def __call__(self, *, dry_run: bool = False) -> RetentionReport:
        now = self.clock.now()
        reports = []
        for rule in self.rules:
            cut = now - rule.period
            if rule.action is Action.ERASE:
                count: int | None = await self._accounts(cut, dry_run=dry_run)
            elif dry_run:
                count = await self.store.count(rule.data, cut)
            else:
                count = await self._sweep(rule.data, cut)
            reports.append(ClassReport(rule=rule, count=count))
        return RetentionReport(dry_run=dry_run, at=now, classes=tuple(reports))

    async def _sweep(self, data: DataClass, cut: datetime) -> int | None:
        if await self.store.count(data, cut) is None:
            return None
        total = 0
        while True:
            went = await self.store.sweep(data, cut, self.batch)
            total += went
            if went < self.batch:
                return total

    async def _accounts(self, cut: datetime, *, dry_run: bool) -> int | None:
        if dry_run:
            return await self.accounts.count(cut)
        if self.erase is None:
            return None
        # Erasure may finish later (a job): a person listed again is not erased twice here.
        total, seen = 0, set[UserId]()
        while found := [p for p in await self.accounts.list(cut, self.batch) if p not in seen]:
            for person in found:
                await self.erase(person)
                seen.add(person)
            total += len(found)
        return total
