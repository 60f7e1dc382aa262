"""The ledger: append-only (the app role may only SELECT and INSERT), one transaction per key.

`post` inserts the transaction with ON CONFLICT DO NOTHING (the id is new, so only the unique
key can conflict), then its entries only if that row was written: two round trips. Neither
RETURNING nor a named conflict target: row-level security would hold the new row to the read
policy, which only admins, staff and maintenance pass, and anyone may post. A concurrent post
of the same key waits on the unique index, then writes nothing. The database refuses at commit
a transaction that does not balance.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.postgis.payments.tables import ledger_entries, ledger_transactions
from adapters.postgis.sql import Row
from adapters.postgis.unit_of_work import PostgisPart
from core.payments.ledger import Account, AccountKind, Balance, Entry, LedgerTransaction
from core.payments.model import PaymentId, RefundId
from core.payments.ports import Ledger
from core.shared.ids import ProviderId
from core.shared.money import Currency
from core.shared.time import to_utc

T, E = ledger_transactions.c, ledger_entries.c


def _provider_of(transaction: LedgerTransaction) -> ProviderId | None:
    providers = {e.account.provider_id for e in transaction.entries} - {None}
    if len(providers) > 1:
        raise ValueError(f"{transaction.key}: entries of more than one provider")
    return next(iter(providers), None)


def _currency(code: str) -> Currency:
    return Currency.of(code).unwrap()


def _account(row: Row) -> Account:
    provider = None if row.provider_id is None else ProviderId(row.provider_id)
    return Account(kind=AccountKind(row.account), provider_id=provider)


class PostgisLedger(PostgisPart, Ledger):
    async def post(self, transaction: LedgerTransaction) -> bool:
        txn_id = uuid.uuid4()
        written = await self._run(
            insert(ledger_transactions)
            .values(
                id=txn_id,
                key=transaction.key,
                at=transaction.at,
                payment_id=transaction.payment_id,
                refund_id=transaction.refund_id,
                source=transaction.source,
                provider_id=_provider_of(transaction),
            )
            .on_conflict_do_nothing()  # only `key` can conflict (see the docstring)
            .execution_options(preserve_rowcount=True)  # an INSERT's count is not kept by default
        )
        if written.rowcount != 1:
            return False
        entries = [
            {
                "transaction_id": txn_id,
                "position": position,
                "account": entry.account.kind.value,
                "provider_id": entry.account.provider_id,
                "minor": entry.minor,
                "currency": entry.currency.code,
            }
            for position, entry in enumerate(transaction.entries)
        ]
        await self._run(ledger_entries.insert().values(entries))
        return True

    async def transactions(
        self, since: datetime, until: datetime, provider_id: ProviderId | None = None
    ) -> Sequence[LedgerTransaction]:
        """[since, until), by `at` then posting order (`seq`); with a provider, those touching
        its accounts (the transaction's `provider_id`)."""
        query = (
            sa.select(T.id, T.key, T.at, T.payment_id, T.refund_id, T.source)
            .add_columns(E.account, E.provider_id, E.minor, E.currency)
            .join(ledger_entries, E.transaction_id == T.id)
            .where(T.at >= since, T.at < until)
            .order_by(T.at, T.seq, E.position)
        )
        if provider_id is not None:
            query = query.where(T.provider_id == provider_id)
        grouped: dict[uuid.UUID, tuple[Row, list[Entry]]] = {}
        for row in await self._run(query):
            entry = Entry(account=_account(row), minor=row.minor, currency=_currency(row.currency))
            grouped.setdefault(row.id, (row, []))[1].append(entry)
        return [_transaction(row, entries) for row, entries in grouped.values()]

    async def balances(self, provider_id: ProviderId | None = None) -> Sequence[Balance]:
        """Per account and currency; with a provider, its own accounts (payable, paid out)."""
        total = sa.func.sum(E.minor).label("minor")
        query = sa.select(E.account, E.provider_id, E.currency, total).group_by(
            E.account, E.provider_id, E.currency
        )
        if provider_id is not None:
            query = query.where(E.provider_id == provider_id)
        found = [
            Balance(account=_account(row), currency=_currency(row.currency), minor=int(row.minor))
            for row in await self._run(query)
        ]
        return sorted(found, key=_balance_order)


def _balance_order(balance: Balance) -> tuple[str, str, str]:
    """The order of core.payments.ledger.balances."""
    return (balance.account.kind, str(balance.account.provider_id), balance.currency.code)


def _transaction(row: Row, entries: list[Entry]) -> LedgerTransaction:
    return LedgerTransaction(
        key=row.key,
        at=to_utc(row.at),
        entries=tuple(entries),
        payment_id=None if row.payment_id is None else PaymentId(row.payment_id),
        refund_id=None if row.refund_id is None else RefundId(row.refund_id),
        source=row.source,
    )
