"""In-memory store of the payments context: every payments repository and its unit of work,
with the transaction semantics the PostGIS adapter has (the contract suites run both).

`MemoryPaymentsStore` holds the committed rows and hands out one `MemoryPaymentsUnitOfWork`
per call, each one transaction at READ COMMITTED:

- reads see the rows committed so far plus the transaction's own uncommitted writes;
- writes become visible to others only on `commit()`; leaving the block without committing
  rolls them back (events and audit entries included);
- every write locks its row until the transaction ends, as PostgreSQL's row locks and unique
  indexes do: another transaction writing the same row (or inserting the same unique key)
  waits, then decides on what was committed. So `save` (by version), `reserve_refund`
  (within what was captured), `refunds.add` (one per request key), `ledger.post` (one per
  key), `inbox.record` (one per event id) and `payments.add` (one live payment per booking
  and part) are atomic however callers interleave. `inbox.claim` skips rows others locked.
- a wait that could never end (on a transaction the same task keeps open, or a cycle)
  raises `MemoryDeadlock` where PostgreSQL would report a deadlock.

asyncio runs one task at a time and nothing here awaits between a check and its write, so each
check-then-write is atomic once its lock is held.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import attrs

from adapters.memory.outbox import MemoryOutbox
from adapters.memory.transaction import MemoryTransaction
from core.payments import ledger as books
from core.payments.fraud import Velocity
from core.payments.ledger import Balance, LedgerTransaction
from core.payments.model import (
    Payment,
    PaymentId,
    PaymentPart,
    PaymentStatus,
    Refund,
    RefundId,
    RefundStatus,
    ReviewState,
)
from core.payments.ports import (
    CustomerRef,
    InboxItem,
    Ledger,
    MoneyAudit,
    PaymentRepository,
    PaymentsUnitOfWork,
    ProcessorCustomers,
    ProcessorEvent,
    ProcessorInbox,
    ProviderAccount,
    ProviderAccounts,
    RefundRepository,
    TermsRepository,
)
from core.payments.terms import OfferingTerms
from core.shared.events import Event
from core.shared.ids import BookingId, OfferingId, ProviderId, UserId
from core.shared.money import Money
from core.shared.unit_of_work import Access, UnitOfWorkFactory

V = TypeVar("V")
Row = tuple[str, Any]  # (table, key)


class MemoryDeadlock(RuntimeError):
    """Two transactions would wait for each other forever."""


@attrs.frozen(kw_only=True)
class AuditRecord:
    action: str
    at: datetime
    actor: UserId | None
    subject: UserId | None
    details: Mapping[str, Any]


@attrs.frozen(kw_only=True)
class InboxRow:
    event: ProcessorEvent
    received_at: datetime
    attempts: int = 0
    last_error: str | None = None
    due_at: datetime
    done_at: datetime | None = None


TABLES = ("payments", "refunds", "terms", "ledger", "inbox", "accounts", "customers")


class _Database:
    def __init__(self, interleave: bool) -> None:
        self.interleave = interleave
        self.tables: dict[str, dict[Any, Any]] = {name: {} for name in TABLES}
        self.locks: dict[Row, _Tx] = {}
        self.audit: list[AuditRecord] = []
        self.outbox: list[Event] = []


class _Tx:
    """The current transaction of one unit of work; a commit starts the next one."""

    def __init__(self, db: _Database) -> None:
        self.db = db
        self.writes: dict[str, dict[Any, Any]] = {name: {} for name in TABLES}
        self.audit: list[AuditRecord] = []
        self.held: list[Row] = []
        self.ended = asyncio.Event()
        self.task: asyncio.Task[Any] | None = None
        self.waiting_for: _Tx | None = None

    # --- reading -------------------------------------------------------------------------

    def get(self, table: str, key: Any) -> Any:
        own = self.writes[table]
        return own[key] if key in own else self.db.tables[table].get(key)

    def rows(self, table: str) -> list[Any]:
        return list({**self.db.tables[table], **self.writes[table]}.values())

    def select(self, table: str, wanted: Callable[[V], bool]) -> list[V]:
        return [row for row in self.rows(table) if wanted(row)]

    # --- writing -------------------------------------------------------------------------

    async def lock(self, table: str, key: Any) -> None:
        if self.db.interleave:
            await asyncio.sleep(0)  # a round trip: other tasks run before the row is locked
        row = (table, key)
        while (owner := self.db.locks.get(row)) is not None and owner is not self:
            self._refuse_deadlock(owner)
            self.waiting_for = owner
            try:
                await owner.ended.wait()
            finally:
                self.waiting_for = None
        if row not in self.db.locks:
            self.db.locks[row] = self
            self.held.append(row)

    def try_lock(self, table: str, key: Any) -> bool:
        owner = self.db.locks.get((table, key))
        if owner is not None and owner is not self:
            return False
        if owner is None:
            self.db.locks[(table, key)] = self
            self.held.append((table, key))
        return True

    async def put(self, table: str, key: Any, value: Any) -> None:
        await self.lock(table, key)
        self.writes[table][key] = value

    def _refuse_deadlock(self, owner: _Tx) -> None:
        if owner.task is not None and owner.task is self.task:
            raise MemoryDeadlock("waiting on a transaction this very task keeps open")
        chain: _Tx | None = owner
        while chain is not None:
            if chain is self:
                raise MemoryDeadlock("transactions wait for each other")
            chain = chain.waiting_for

    # --- ending --------------------------------------------------------------------------

    def begin(self) -> None:
        self.task = asyncio.current_task()

    def commit(self, events: list[Event]) -> None:
        for name in TABLES:
            self.db.tables[name].update(self.writes[name])
        self.db.audit.extend(self.audit)
        self.db.outbox.extend(events)
        self.end()

    def end(self) -> None:
        """Drop what was not committed, release the locks and wake whoever waits."""
        for writes in self.writes.values():
            writes.clear()
        self.audit.clear()
        for row in self.held:
            if self.db.locks.get(row) is self:
                del self.db.locks[row]
        self.held.clear()
        self.ended.set()
        self.ended = asyncio.Event()


class _Part:
    def __init__(self, tx: _Tx) -> None:
        self._tx = tx


def _oldest_first(rows: Iterable[V], key: Callable[[V], Any], limit: int) -> list[V]:
    return sorted(rows, key=key)[: max(limit, 0)]


# ---------------------------------------------------------------- payments


class MemoryPaymentRepository(_Part, PaymentRepository):
    def _where(self, wanted: Callable[[Payment], bool]) -> list[Payment]:
        return self._tx.select("payments", wanted)

    async def add(self, payment: Payment) -> bool:
        await self._tx.lock("payment-part", (payment.booking_id, payment.part))
        live = self._where(
            lambda p: (
                (p.booking_id, p.part) == (payment.booking_id, payment.part)
                and p.status is not PaymentStatus.CANCELLED
            ),
        )
        if live:
            return False
        await self._tx.put("payments", payment.id, payment)
        return True

    async def get(self, id: PaymentId) -> Payment | None:
        found: Payment | None = self._tx.get("payments", id)
        return found

    async def for_intent(self, intent_id: str) -> Payment | None:
        found = self._where(lambda p: p.intent_id == intent_id)
        return found[0] if found else None

    async def for_booking(self, booking_id: BookingId) -> Sequence[Payment]:
        mine = self._where(lambda p: p.booking_id == booking_id)
        # A deposit and its balance are written at the same instant: the deposit first.
        return _oldest_first(
            mine, lambda p: (p.created_at, p.part is PaymentPart.BALANCE), len(mine)
        )

    async def for_customer(
        self, customer_id: UserId, limit: int, before: PaymentId | None
    ) -> Sequence[Payment]:
        mine = sorted(
            self._where(lambda p: p.customer_id == customer_id),
            key=lambda p: (p.created_at, p.id),
            reverse=True,
        )
        if before is not None:
            anchor = await self.get(before)
            if anchor is None:
                return []
            mine = [p for p in mine if (p.created_at, p.id) < (anchor.created_at, anchor.id)]
        return mine[: max(limit, 0)]

    async def save(self, payment: Payment) -> bool:
        await self._tx.lock("payments", payment.id)
        stored = await self.get(payment.id)
        if stored is None or stored.version != payment.version:
            return False
        # `refunded` belongs to reserve/release: a save from an older read keeps it.
        changed = attrs.evolve(payment, version=payment.version + 1, refunded=stored.refunded)
        await self._tx.put("payments", payment.id, changed)
        return True

    async def reserve_refund(self, id: PaymentId, amount: Money) -> bool:
        await self._tx.lock("payments", id)
        stored = await self.get(id)
        if stored is None or amount.minor <= 0 or stored.captured < stored.refunded + amount:
            return False
        await self._tx.put("payments", id, attrs.evolve(stored, refunded=stored.refunded + amount))
        return True

    async def release_refund(self, id: PaymentId, amount: Money) -> None:
        await self._tx.lock("payments", id)
        stored = await self.get(id)
        if stored is None or stored.refunded < amount:
            raise ValueError(f"payment {id}: releasing more than was reserved")
        await self._tx.put("payments", id, attrs.evolve(stored, refunded=stored.refunded - amount))

    async def unsettled(self, limit: int) -> Sequence[Payment]:
        found = self._where(
            lambda p: (
                p.status is PaymentStatus.SUCCEEDED and (p.booking_outcome is None or p.fee is None)
            ),
        )
        return _oldest_first(found, lambda p: (p.updated_at, p.id), limit)

    async def balances_due(self, now: datetime, limit: int) -> Sequence[Payment]:
        found = self._where(
            lambda p: (
                p.part is PaymentPart.BALANCE
                and p.status is PaymentStatus.CREATED
                and p.intent_id is None
                and p.due_at is not None
                and p.due_at <= now
            ),
        )
        return _oldest_first(found, lambda p: (p.due_at, p.id), limit)

    async def in_review(self, limit: int) -> Sequence[Payment]:
        found = self._where(lambda p: p.review is ReviewState.PENDING)
        return _oldest_first(found, lambda p: (p.created_at, p.id), limit)

    async def velocity(
        self, customer_id: UserId, card_fingerprint: str | None, ip: str | None, since: datetime
    ) -> Velocity:
        """Failed: payments whose last attempt failed since `since`; payments: the ones an
        account started since then (balances start themselves and do not count)."""
        recent_failures = self._where(
            lambda p: p.status is PaymentStatus.FAILED and p.updated_at >= since
        )
        started = self._where(
            lambda p: (
                p.customer_id == customer_id
                and p.part is not PaymentPart.BALANCE
                and p.created_at >= since
            ),
        )
        return Velocity(
            failed_by_account=sum(p.customer_id == customer_id for p in recent_failures),
            failed_by_card=sum(
                card_fingerprint is not None and p.card_fingerprint == card_fingerprint
                for p in recent_failures
            ),
            failed_by_ip=sum(ip is not None and p.client_ip == ip for p in recent_failures),
            payments_by_account=len(started),
        )


# ---------------------------------------------------------------- refunds


class MemoryRefundRepository(_Part, RefundRepository):
    def _where(self, wanted: Callable[[Refund], bool]) -> list[Refund]:
        return self._tx.select("refunds", wanted)

    async def add(self, refund: Refund) -> bool:
        await self._tx.lock("refund-request", (refund.payment_id, refund.request_key))
        if await self.by_request(refund.payment_id, refund.request_key) is not None:
            return False
        await self._tx.put("refunds", refund.id, refund)
        return True

    async def get(self, id: RefundId) -> Refund | None:
        found: Refund | None = self._tx.get("refunds", id)
        return found

    async def by_request(self, payment_id: PaymentId, request_key: str) -> Refund | None:
        found = self._where(lambda r: (r.payment_id, r.request_key) == (payment_id, request_key))
        return found[0] if found else None

    async def for_payment(self, payment_id: PaymentId) -> Sequence[Refund]:
        mine = self._where(lambda r: r.payment_id == payment_id)
        return _oldest_first(mine, lambda r: (r.created_at, r.id), len(mine))

    async def for_processor(self, refund_ref: str) -> Refund | None:
        found = self._where(lambda r: r.processor_refund_id == refund_ref)
        return found[0] if found else None

    async def save(self, refund: Refund, expected: RefundStatus, expected_attempt: int) -> bool:
        await self._tx.lock("refunds", refund.id)
        stored = await self.get(refund.id)
        if stored is None or (stored.status, stored.attempt) != (expected, expected_attempt):
            return False
        await self._tx.put("refunds", refund.id, refund)
        return True

    async def with_status(
        self, status: RefundStatus, older_than: datetime | None, limit: int
    ) -> Sequence[Refund]:
        found = self._where(
            lambda r: r.status is status and (older_than is None or r.updated_at < older_than),
        )
        return _oldest_first(found, lambda r: (r.updated_at, r.id), limit)


# ---------------------------------------------------------------- terms, ledger, inbox


class MemoryTermsRepository(_Part, TermsRepository):
    def _where(self, wanted: Callable[[OfferingTerms], bool]) -> list[OfferingTerms]:
        return self._tx.select("terms", wanted)

    async def add(self, terms: OfferingTerms) -> bool:
        key = (terms.offering_id, terms.version)
        await self._tx.lock("terms", key)
        if self._tx.get("terms", key) is not None:
            return False
        await self._tx.put("terms", key, terms)
        return True

    async def latest(self, offering_id: OfferingId) -> OfferingTerms | None:
        return self._newest(lambda t: t.offering_id == offering_id)

    async def in_effect_at(self, offering_id: OfferingId, at: datetime) -> OfferingTerms | None:
        return self._newest(lambda t: t.offering_id == offering_id and t.effective_from <= at)

    def _newest(self, wanted: Callable[[OfferingTerms], bool]) -> OfferingTerms | None:
        return max(self._where(wanted), key=lambda t: t.version, default=None)


class MemoryLedger(_Part, Ledger):
    def _where(self, wanted: Callable[[LedgerTransaction], bool]) -> list[LedgerTransaction]:
        return self._tx.select("ledger", wanted)

    async def post(self, transaction: LedgerTransaction) -> bool:
        await self._tx.lock("ledger", transaction.key)
        if self._tx.get("ledger", transaction.key) is not None:
            return False
        await self._tx.put("ledger", transaction.key, transaction)
        return True

    async def transactions(
        self, since: datetime, until: datetime, provider_id: ProviderId | None = None
    ) -> Sequence[LedgerTransaction]:
        """Posted at `since` or later and before `until`, oldest first; with a provider,
        only transactions that touch one of that provider's accounts."""
        found = self._where(
            lambda t: since <= t.at < until and _touches(t, provider_id),
        )
        return sorted(found, key=lambda t: t.at)

    async def balances(self, provider_id: ProviderId | None = None) -> Sequence[Balance]:
        """Every account's balance; with a provider, that provider's accounts only."""
        every = books.balances(self._tx.rows("ledger"))
        if provider_id is None:
            return every
        return [b for b in every if b.account.provider_id == provider_id]


def _touches(transaction: LedgerTransaction, provider_id: ProviderId | None) -> bool:
    return provider_id is None or any(
        e.account.provider_id == provider_id for e in transaction.entries
    )


class MemoryInbox(_Part, ProcessorInbox):
    def _where(self, wanted: Callable[[InboxRow], bool]) -> list[InboxRow]:
        return self._tx.select("inbox", wanted)

    async def record(self, event: ProcessorEvent, received_at: datetime) -> bool:
        # A known event is answered at once, even while it is claimed (ON CONFLICT DO
        # NOTHING does not wait for a row lock): the webhook receiver stays fast.
        if self._tx.get("inbox", event.id) is not None:
            return False
        await self._tx.lock("inbox", event.id)
        if self._tx.get("inbox", event.id) is not None:
            return False
        row = InboxRow(event=event, received_at=received_at, due_at=received_at)
        await self._tx.put("inbox", event.id, row)
        return True

    async def claim(self, now: datetime, limit: int) -> Sequence[InboxItem]:
        due = _oldest_first(
            self._where(lambda r: r.done_at is None and (_untouched(r) or r.due_at <= now)),
            lambda r: (r.received_at, r.event.id),
            len(self._tx.rows("inbox")),
        )
        claimed = [r for r in due if self._tx.try_lock("inbox", r.event.id)][: max(limit, 0)]
        return [
            InboxItem(event=r.event, attempts=r.attempts, last_error=r.last_error) for r in claimed
        ]

    async def lease(self, event_ids: Sequence[str], until: datetime) -> None:
        for event_id in event_ids:
            await self._change(event_id, due_at=until)

    async def done(self, event_id: str, at: datetime) -> None:
        await self._change(event_id, done_at=at)

    async def failed(self, event_id: str, error: str, retry_at: datetime) -> None:
        row: InboxRow = self._tx.get("inbox", event_id)
        await self._change(event_id, attempts=row.attempts + 1, last_error=error, due_at=retry_at)

    async def _change(self, event_id: str, **changes: Any) -> None:
        row = self._tx.get("inbox", event_id)
        if row is None:
            raise KeyError(f"no processor event {event_id}")
        await self._tx.put("inbox", event_id, attrs.evolve(row, **changes))


def _untouched(row: InboxRow) -> bool:
    """Never attempted nor leased: due to every claimer, whatever its clock says."""
    return row.attempts == 0 and row.due_at == row.received_at


# ---------------------------------------------------------------- accounts, customers, audit


class MemoryProviderAccounts(_Part, ProviderAccounts):
    def _where(self, wanted: Callable[[ProviderAccount], bool]) -> list[ProviderAccount]:
        return self._tx.select("accounts", wanted)

    async def get(self, provider_id: ProviderId) -> ProviderAccount | None:
        found: ProviderAccount | None = self._tx.get("accounts", provider_id)
        return found

    async def by_ref(self, account_ref: str) -> ProviderAccount | None:
        found = self._where(lambda a: a.account_ref == account_ref)
        return found[0] if found else None

    async def put(self, account: ProviderAccount) -> None:
        await self._tx.put("accounts", account.provider_id, account)


class MemoryProcessorCustomers(_Part, ProcessorCustomers):
    async def get(self, user_id: UserId) -> CustomerRef | None:
        found: CustomerRef | None = self._tx.get("customers", user_id)
        return found

    async def put(self, customer: CustomerRef) -> None:
        await self._tx.put("customers", customer.user_id, customer)


class MemoryMoneyAudit(_Part, MoneyAudit):
    async def append(
        self,
        action: str,
        at: datetime,
        actor: UserId | None,
        subject: UserId | None,
        details: Mapping[str, Any],
    ) -> None:
        self._tx.audit.append(
            AuditRecord(action=action, at=at, actor=actor, subject=subject, details=dict(details))
        )


# ---------------------------------------------------------------- unit of work and store


class MemoryPaymentsUnitOfWork(MemoryTransaction, PaymentsUnitOfWork):
    """One transaction over a `MemoryPaymentsStore` (make it by calling the store)."""

    def __init__(self, db: _Database) -> None:
        self._tx = _Tx(db)
        self.payments = MemoryPaymentRepository(self._tx)
        self.refunds = MemoryRefundRepository(self._tx)
        self.terms = MemoryTermsRepository(self._tx)
        self.ledger = MemoryLedger(self._tx)
        self.inbox = MemoryInbox(self._tx)
        self.accounts = MemoryProviderAccounts(self._tx)
        self.customers = MemoryProcessorCustomers(self._tx)
        self.audit = MemoryMoneyAudit(self._tx)
        self.outbox = MemoryOutbox()

    async def _begin(self) -> None:
        self._tx.begin()

    def _discard(self) -> None:
        self.outbox.drop()
        self._tx.end()

    async def commit(self) -> None:
        self._tx.commit(self.outbox.take())


class MemoryPaymentsStore(UnitOfWorkFactory[PaymentsUnitOfWork]):
    """The committed state; calling it opens a new unit of work. The read-only views below
    are for tests: what the use cases left behind, committed."""

    def __init__(self, interleave: bool = False) -> None:
        """`interleave`: yield to other tasks before every write, as a database round trip
        does, so concurrency tests see the interleavings a real server allows."""
        self._db = _Database(interleave)

    def __call__(self, access: Access) -> MemoryPaymentsUnitOfWork:
        """`access` is not enforced here: the use cases' own checks are the only wall."""
        return MemoryPaymentsUnitOfWork(self._db)

    def _committed(self, table: str) -> list[Any]:
        return list(self._db.tables[table].values())

    @property
    def payments(self) -> list[Payment]:
        return sorted(
            self._committed("payments"),
            key=lambda p: (p.created_at, p.part is PaymentPart.BALANCE),
        )

    @property
    def refunds(self) -> list[Refund]:
        return sorted(self._committed("refunds"), key=lambda r: r.created_at)

    @property
    def ledger(self) -> list[LedgerTransaction]:
        return self._committed("ledger")

    @property
    def inbox(self) -> list[InboxRow]:
        return self._committed("inbox")

    @property
    def accounts(self) -> list[ProviderAccount]:
        return self._committed("accounts")

    @property
    def audit(self) -> tuple[AuditRecord, ...]:
        return tuple(self._db.audit)

    @property
    def outbox(self) -> tuple[Event, ...]:
        """Committed events, oldest first (what a relay would deliver)."""
        return tuple(self._db.outbox)

    def events(self, name: str) -> list[Event]:
        return [e for e in self._db.outbox if e.name == name]

    def payment(self, id: PaymentId) -> Payment:
        found: Payment = self._db.tables["payments"][id]
        return found
