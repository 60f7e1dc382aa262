"""The books, for admins: ledger balances, an export, and reconciliation with the processor.

Reconciliation compares one UTC day of the processor's balance lines (charges with their fee,
refunds) with the ledger's transactions, matched by the processor object they record. Items
are fetched with an hour's margin on each side, so a charge we booked seconds before midnight
and the processor just after still matches; an item is reported only on the day it belongs to.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta

import attrs
from returns.result import Failure, Result, Success

from core.payments.ledger import CUSTOMER, FEES, Account, Balance, LedgerTransaction
from core.payments.ports import BalanceLine
from core.payments.service import PaymentsUseCase
from core.shared.errors import DomainError, InvalidInput
from core.shared.ids import ProviderId
from core.shared.principal import Principal, require_admin
from core.shared.time import to_utc
from core.shared.unit_of_work import Access

MARGIN = timedelta(hours=1)
DAY = timedelta(days=1)
REFUND_LINES = ("refund", "refund_failure")  # a failed refund comes back as its own line


class LedgerBalances(PaymentsUseCase):
    async def __call__(
        self, caller: Principal, provider_id: ProviderId | None
    ) -> Result[Sequence[Balance], DomainError]:
        admin = require_admin(caller)
        if isinstance(admin, Failure):
            return admin
        async with self.uow(Access.of(caller)) as uow:
            return Success(await uow.ledger.balances(provider_id))


class ExportLedger(PaymentsUseCase):
    async def __call__(
        self, caller: Principal, since: datetime, until: datetime
    ) -> Result[Sequence[LedgerTransaction], DomainError]:
        admin = require_admin(caller)
        if isinstance(admin, Failure):
            return admin
        if to_utc(until) <= to_utc(since):
            return Failure(InvalidInput(field="until", reason="must be after since"))
        async with self.uow(Access.of(caller)) as uow:
            return Success(await uow.ledger.transactions(to_utc(since), to_utc(until)))


class DifferenceKind(enum.StrEnum):
    MISSING_IN_LEDGER = "missing_in_ledger"
    MISSING_AT_PROCESSOR = "missing_at_processor"
    AMOUNT_DIFFERS = "amount_differs"


@attrs.frozen(kw_only=True)
class Difference:
    kind: DifferenceKind
    source: str  # the processor's charge or refund
    ledger_minor: int | None
    processor_minor: int | None
    detail: str


@attrs.frozen(kw_only=True)
class Reconciliation:
    day: date
    matched: int
    differences: tuple[Difference, ...]


@attrs.frozen(kw_only=True)
class _Item:
    """One charge or refund as one side records it: amounts as the customer sees them."""

    kind: str  # charge | refund
    amount: int
    fee: int
    at: datetime


class Reconcile(PaymentsUseCase):
    async def __call__(self, caller: Principal, day: date) -> Result[Reconciliation, DomainError]:
        admin = require_admin(caller)
        if isinstance(admin, Failure):
            return admin
        start = datetime.combine(day, time(0), tzinfo=UTC)
        since, until = start - MARGIN, start + DAY + MARGIN
        async with self.uow(Access.of(caller)) as uow:
            books = _from_ledger(await uow.ledger.transactions(since, until))
        processor = _from_processor(await self.gateway.balance_lines(since, until))
        return Success(_compare(day, start, books, processor))


def _from_ledger(transactions: Iterable[LedgerTransaction]) -> dict[str, _Item]:
    items: dict[str, _Item] = {}
    for txn in transactions:
        if txn.source is None:
            continue  # paid outside the processor (a refund resolved by hand)
        kind = txn.key.split(":", 1)[0]
        item = items.get(txn.source, _Item(kind="", amount=0, fee=0, at=txn.at))
        if kind == "capture":
            item = attrs.evolve(item, kind="charge", amount=-_on(txn, CUSTOMER), at=txn.at)
        elif kind == "fee":
            item = attrs.evolve(item, fee=_on(txn, FEES))
        elif kind == "refund":
            item = attrs.evolve(item, kind="refund", amount=_on(txn, CUSTOMER), at=txn.at)
        else:
            continue  # payouts happen on connected accounts, not in the platform's balance
        items[txn.source] = item
    return items


def _on(txn: LedgerTransaction, account: Account) -> int:
    return sum(e.minor for e in txn.entries if e.account == account)


def _from_processor(lines: Iterable[BalanceLine]) -> dict[str, _Item]:
    items: dict[str, _Item] = {}
    for line in lines:
        if line.source is None:
            continue
        if line.kind == "charge":
            items[line.source] = _Item(
                kind="charge", amount=line.amount.minor, fee=line.fee.minor, at=line.created_at
            )
        elif line.kind in REFUND_LINES:
            seen = items.get(line.source, _Item(kind="refund", amount=0, fee=0, at=line.created_at))
            items[line.source] = attrs.evolve(seen, amount=seen.amount - line.amount.minor)
    return {source: item for source, item in items.items() if item.kind == "charge" or item.amount}


def _compare(
    day: date, start: datetime, books: Mapping[str, _Item], processor: Mapping[str, _Item]
) -> Reconciliation:
    def today(item: _Item) -> bool:
        return start <= item.at < start + DAY

    matched, differences = 0, []
    for source in sorted(books.keys() | processor.keys()):
        ours, theirs = books.get(source), processor.get(source)
        if not any(item is not None and today(item) for item in (ours, theirs)):
            continue
        found = _differences(source, ours, theirs)
        matched += not found
        differences.extend(found)
    return Reconciliation(day=day, matched=matched, differences=tuple(differences))


def _differences(source: str, ours: _Item | None, theirs: _Item | None) -> list[Difference]:
    if ours is None:
        assert theirs is not None
        return [
            _difference(DifferenceKind.MISSING_IN_LEDGER, source, None, theirs.amount, theirs.kind)
        ]
    if theirs is None:
        return [
            _difference(DifferenceKind.MISSING_AT_PROCESSOR, source, ours.amount, None, ours.kind)
        ]
    found = []
    if ours.amount != theirs.amount:
        found.append(
            _difference(
                DifferenceKind.AMOUNT_DIFFERS,
                source,
                ours.amount,
                theirs.amount,
                f"{theirs.kind} amount",
            )
        )
    if ours.fee != theirs.fee:
        found.append(
            _difference(
                DifferenceKind.AMOUNT_DIFFERS, source, ours.fee, theirs.fee, "processor fee"
            )
        )
    return found


def _difference(
    kind: DifferenceKind, source: str, ours: int | None, theirs: int | None, detail: str
) -> Difference:
    return Difference(
        kind=kind, source=source, ledger_minor=ours, processor_minor=theirs, detail=detail
    )
