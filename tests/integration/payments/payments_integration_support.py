"""Helpers shared by the payments integration tests (fixtures live in conftest.py): the store
under test and small builders of payments, refunds and terms."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.payments.store import MemoryPaymentsStore
from adapters.memory.payments.terms_in_effect import UnitOfWorkTermsInEffect
from adapters.postgis.payments import PostgisPaymentsUnitOfWork
from adapters.postgis.payments.terms import PostgisTermsInEffect
from core.payments.model import (
    Payment,
    PaymentId,
    PaymentPart,
    PaymentStatus,
    Refund,
    RefundId,
    RefundReason,
)
from core.payments.ports import PaymentsUnitOfWork, TermsInEffect
from core.payments.terms import (
    CancellationPolicy,
    DepositKind,
    DepositRule,
    OfferingTerms,
    RefundTier,
)
from core.shared.ids import BookingId, OfferingId, ProviderId, UserId
from core.shared.money import Money
from core.shared.personal import PersonalData
from core.shared.unit_of_work import MAINTENANCE, Access, UnitOfWorkFactory
from personal_support import PERSONAL_TABLES, postgis_personal

NOW = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
PAYMENTS_TABLES = (
    "payments, refunds, offering_terms, ledger_transactions, ledger_entries, processor_events,"
    " provider_accounts, processor_customers, outbox, audit_log, " + PERSONAL_TABLES
)


@attrs.frozen
class Store:
    """A payments unit-of-work factory, and the one-read terms port, per adapter."""

    name: str
    uow: UnitOfWorkFactory[PaymentsUnitOfWork]
    terms_in_effect: TermsInEffect


def postgis_store(engine: AsyncEngine, personal: PersonalData | None = None) -> Store:
    sealing = personal or postgis_personal(engine)

    def uow(access: Access) -> PaymentsUnitOfWork:
        return PostgisPaymentsUnitOfWork(engine, access, personal=sealing)

    return Store("postgis", uow, PostgisTermsInEffect(engine))


STORE_KINDS = ("memory", "postgis")


def memory_store() -> Store:
    """The in-memory payments store (adapters.memory.payments): the fake the unit tests use."""
    memory = MemoryPaymentsStore()
    return Store("memory", memory, UnitOfWorkTermsInEffect(memory))


# ------------------------------------------------------------------ builders


def eur(minor: int) -> Money:
    return Money.of(minor, "EUR").unwrap()


def offering_terms(
    offering: OfferingId | None = None,
    version: int = 1,
    effective_from: datetime = NOW,
    *,
    deposit: bool = False,
) -> OfferingTerms:
    policy = CancellationPolicy.of(
        (
            RefundTier(notice=timedelta(days=7), percent=100),
            RefundTier(notice=timedelta(hours=24), percent=40),
        )
    ).unwrap()
    rule = None
    if deposit:
        rule = DepositRule(kind=DepositKind.FIXED, fixed=eur(2500), balance_due_before=HOUR * 48)
    return OfferingTerms(
        offering_id=offering or OfferingId(uuid.uuid4()),
        version=version,
        policy=policy,
        deposit=rule,
        effective_from=effective_from,
    )


def payment(
    *,
    customer: UserId | None = None,
    provider: ProviderId | None = None,
    booking: BookingId | None = None,
    created_at: datetime = NOW,
    **changes: Any,
) -> Payment:
    id = PaymentId(uuid.uuid4())
    values: dict[str, Any] = {
        "id": id,
        "booking_id": booking or BookingId(uuid.uuid4()),
        "customer_id": customer or UserId(uuid.uuid4()),
        "provider_id": provider or ProviderId(uuid.uuid4()),
        "part": PaymentPart.FULL,
        "amount": eur(10_000),
        "commission": eur(1_000),
        "terms": offering_terms(),
        "idempotency_key": f"pay-{id}",
        "processor_account": "acct_provider",
        "captured": eur(0),
        "refunded": eur(0),
        "created_at": created_at,
        "updated_at": created_at,
    }
    return Payment(**(values | changes))


def captured(minor: int = 10_000, **changes: Any) -> Payment:
    """A succeeded payment that captured `minor`."""
    return payment(
        status=PaymentStatus.SUCCEEDED,
        intent_id=f"pi_{uuid.uuid4().hex}",
        charge_id=f"ch_{uuid.uuid4().hex}",
        captured=eur(minor),
        **changes,
    )


def refund(of: Payment, minor: int, request_key: str = "cancellation", **changes: Any) -> Refund:
    values: dict[str, Any] = {
        "id": RefundId(uuid.uuid4()),
        "payment_id": of.id,
        "amount": eur(minor),
        "reason": RefundReason.CANCELLATION,
        "request_key": request_key,
        "created_at": NOW,
        "updated_at": NOW,
    }
    return Refund(**(values | changes))


async def add(store: Store, *payments: Payment) -> None:
    async with store.uow(MAINTENANCE) as uow:
        for each in payments:
            await uow.payments.add(each)
        await uow.commit()
