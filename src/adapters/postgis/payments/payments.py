"""Payments: one row each (the terms snapshot inside it), so a read is one query.

Writes name what they expect: `save` updates only the version it read, and the refunded
amount moves only through `reserve_refund`/`release_refund`, one conditional UPDATE each, so
concurrent refunds can never add up to more than the payment captured.

The address a checkout came from is sealed under the customer's key (field
"payments.client_ip", migration 0016) and kept beside its lookup hash, which the velocity
rules count failures by. It is written once, by `add`; `save` never seals again, so a payment
of an erased customer (their address then opens to None) still settles and refunds.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from adapters.postgis.payments.tables import payments
from adapters.postgis.sql import Row, money, utc_or_none
from adapters.postgis.unit_of_work import PostgisPart, PostgisUnitOfWork
from core.payments.fraud import Velocity
from core.payments.model import (
    BookingOutcome,
    Payment,
    PaymentId,
    PaymentPart,
    PaymentStatus,
    ReviewState,
    Risk,
)
from core.payments.ports import PaymentRepository
from core.payments.terms import from_snapshot
from core.shared.ids import BookingId, ProviderId, UserId
from core.shared.money import Money
from core.shared.personal import PersonalData
from core.shared.time import to_utc

P = payments.c
CLIENT_IP = "payments.client_ip"
# Owner's rights: failures by card and address count every customer's (migration 0006).
_VELOCITY = sa.text("SELECT * FROM payment_velocity(:customer, :fingerprint, :ip, :since)")


def _values(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "booking_id": payment.booking_id,
        "customer_id": payment.customer_id,
        "provider_id": payment.provider_id,
        "part": payment.part.value,
        "amount_minor": payment.amount.minor,
        "currency": payment.amount.currency.code,
        "commission_minor": payment.commission.minor,
        "terms": dict(payment.terms.snapshot()),
        "status": payment.status.value,
        "idempotency_key": payment.idempotency_key,
        "intent_id": payment.intent_id,
        "charge_id": payment.charge_id,
        "processor_account": payment.processor_account,
        "captured_minor": payment.captured.minor,
        "refunded_minor": payment.refunded.minor,
        "fee_minor": None if payment.fee is None else payment.fee.minor,
        "risk": None if payment.risk is None else _risk_json(payment.risk),
        "card_fingerprint": payment.card_fingerprint,
        "payment_method_id": payment.payment_method_id,
        "failure": payment.failure,
        "review": _text(payment.review),
        "review_reason": payment.review_reason,
        "booking_outcome": None
        if payment.booking_outcome is None
        else payment.booking_outcome.value,
        "due_at": payment.due_at,
        "created_at": payment.created_at,
        "updated_at": payment.updated_at,
        "version": payment.version,
    }


def _text(value: enum.StrEnum | None) -> str | None:
    return None if value is None else value.value


def _outcome(value: str | None) -> BookingOutcome | None:
    return None if value is None else BookingOutcome(value)


def _risk_json(risk: Risk) -> dict[str, Any]:
    return {"level": risk.level, "score": risk.score, "outcome": risk.outcome}


def _payment(row: Row, client_ip: str | None) -> Payment:
    def amount(minor: int) -> Money:
        return money(minor, row.currency)

    risk = row.risk
    return Payment(
        id=PaymentId(row.id),
        booking_id=BookingId(row.booking_id),
        customer_id=UserId(row.customer_id),
        provider_id=ProviderId(row.provider_id),
        part=PaymentPart(row.part),
        amount=amount(row.amount_minor),
        commission=amount(row.commission_minor),
        terms=from_snapshot(row.terms),
        status=PaymentStatus(row.status),
        idempotency_key=row.idempotency_key,
        intent_id=row.intent_id,
        charge_id=row.charge_id,
        processor_account=row.processor_account,
        captured=amount(row.captured_minor),
        refunded=amount(row.refunded_minor),
        fee=None if row.fee_minor is None else amount(row.fee_minor),
        risk=None
        if risk is None
        else Risk(level=risk["level"], score=risk["score"], outcome=risk["outcome"]),
        card_fingerprint=row.card_fingerprint,
        payment_method_id=row.payment_method_id,
        failure=row.failure,
        review=None if row.review is None else ReviewState(row.review),
        review_reason=row.review_reason,
        booking_outcome=None
        if row.booking_outcome is None
        else BookingOutcome(row.booking_outcome),
        due_at=utc_or_none(row.due_at),
        client_ip=client_ip,
        created_at=to_utc(row.created_at),
        updated_at=to_utc(row.updated_at),
        version=row.version,
    )


class PostgisPaymentRepository(PostgisPart, PaymentRepository):
    def __init__(self, uow: PostgisUnitOfWork, personal: PersonalData) -> None:
        super().__init__(uow)
        self._personal = personal

    async def add(self, payment: Payment) -> bool:
        """False when the booking has a payment of that part that is not cancelled (the
        unique index uq_payments_booking_part_open), nothing written."""
        ip = payment.client_ip
        sealed = hashed = None
        if ip is not None:
            sealed = await self._personal.seal(payment.customer_id, ip, field=CLIENT_IP)
            hashed = await self._personal.lookup_hash(ip, field=CLIENT_IP)
        statement = (
            pg_insert(payments)
            .values(_values(payment) | {"client_ip_sealed": sealed, "client_ip_hash": hashed})
            .on_conflict_do_nothing()  # no named target: it would need the read policy
            .execution_options(preserve_rowcount=True)  # an INSERT's count is not kept by default
        )
        return (await self._run(statement)).rowcount == 1

    async def get(self, id: PaymentId) -> Payment | None:
        return await self._one(P.id == id)

    async def for_intent(self, intent_id: str) -> Payment | None:
        return await self._one(P.intent_id == intent_id)

    async def for_booking(self, booking_id: BookingId) -> Sequence[Payment]:
        return await self._many(
            payments.select().where(P.booking_id == booking_id).order_by(P.created_at, P.id)
        )

    async def for_customer(
        self, customer_id: UserId, limit: int, before: PaymentId | None
    ) -> Sequence[Payment]:
        """Keyset paging on (created_at, id) descending; the key of `before` is read in the
        same query, and a `before` naming no payment matches nothing."""
        query = (
            payments.select()
            .where(P.customer_id == customer_id)
            .order_by(P.created_at.desc(), P.id.desc())
            .limit(limit)
        )
        if before is not None:
            last = sa.select(P.created_at, P.id).where(P.id == before).scalar_subquery()
            query = query.where(sa.tuple_(P.created_at, P.id) < last)
        return await self._many(query)

    async def save(self, payment: Payment) -> bool:
        values = _values(payment)
        del values["id"], values["refunded_minor"]  # reserve_refund and release_refund own it
        values["version"] = P.version + 1
        result = await self._run(
            payments.update().where(P.id == payment.id, P.version == payment.version).values(values)
        )
        return result.rowcount == 1

    async def reserve_refund(self, id: PaymentId, amount: Money) -> bool:
        result = await self._run(
            payments.update()
            .where(
                P.id == id,
                P.currency == amount.currency.code,
                P.refunded_minor + amount.minor <= P.captured_minor,
            )
            .values(refunded_minor=P.refunded_minor + amount.minor)
        )
        return result.rowcount == 1

    async def release_refund(self, id: PaymentId, amount: Money) -> None:
        """Releasing more than was reserved breaks the table's CHECK: a bug, it raises."""
        await self._run(
            payments.update()
            .where(P.id == id, P.currency == amount.currency.code)
            .values(refunded_minor=P.refunded_minor - amount.minor)
        )

    async def unsettled(self, limit: int) -> Sequence[Payment]:
        return await self._many(
            payments.select()
            .where(
                P.status == PaymentStatus.SUCCEEDED.value,
                sa.or_(P.booking_outcome.is_(None), P.fee_minor.is_(None)),
            )
            .order_by(P.created_at, P.id)
            .limit(limit)
        )

    async def balances_due(self, now: datetime, limit: int) -> Sequence[Payment]:
        return await self._many(
            payments.select()
            .where(
                P.part == PaymentPart.BALANCE.value,
                P.status == PaymentStatus.CREATED.value,
                P.intent_id.is_(None),
                P.due_at <= now,
            )
            .order_by(P.due_at, P.id)
            .limit(limit)
        )

    async def in_review(self, limit: int) -> Sequence[Payment]:
        return await self._many(
            payments.select()
            .where(P.review == ReviewState.PENDING.value)
            .order_by(P.created_at, P.id)
            .limit(limit)
        )

    async def velocity(
        self, customer_id: UserId, card_fingerprint: str | None, ip: str | None, since: datetime
    ) -> Velocity:
        """Failures count when they happened (the payment's last update), payments when
        they were made."""
        hashed = None if ip is None else await self._personal.lookup_hash(ip, field=CLIENT_IP)
        values = {"customer": customer_id, "fingerprint": card_fingerprint, "ip": hashed}
        row = (await self._conn.execute(_VELOCITY, values | {"since": since})).one()
        return Velocity(
            failed_by_account=row.failed_by_account,
            failed_by_card=row.failed_by_card,
            failed_by_ip=row.failed_by_ip,
            payments_by_account=row.payments_by_account,
        )

    async def _one(self, where: sa.ColumnElement[bool]) -> Payment | None:
        row = (await self._run(payments.select().where(where))).first()
        return None if row is None else await self._open(row)

    async def _many(self, query: sa.Select[Any]) -> Sequence[Payment]:
        return [await self._open(row) for row in await self._run(query)]

    async def _open(self, row: Row) -> Payment:
        ip = None
        if row.client_ip_sealed is not None:
            ip = await self._personal.open(row.customer_id, row.client_ip_sealed, field=CLIENT_IP)
        return _payment(row, ip)
