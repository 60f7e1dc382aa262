"""Refunds: one per (payment, request key), so the same request is never made twice; a
state change is an UPDATE conditional on the status and attempt it was decided from."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.postgis.payments.tables import refunds
from adapters.postgis.sql import Row, money
from adapters.postgis.unit_of_work import PostgisPart
from core.payments.model import (
    PaymentId,
    Refund,
    RefundId,
    RefundReason,
    RefundStatus,
)
from core.payments.ports import RefundRepository
from core.shared.ids import UserId
from core.shared.time import to_utc

R = refunds.c


def _values(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "payment_id": refund.payment_id,
        "amount_minor": refund.amount.minor,
        "currency": refund.amount.currency.code,
        "reason": refund.reason.value,
        "request_key": refund.request_key,
        "status": refund.status.value,
        "attempt": refund.attempt,
        "processor_refund_id": refund.processor_refund_id,
        "failure": refund.failure,
        "requested_by": refund.requested_by,
        "resolved_by": refund.resolved_by,
        "note": refund.note,
        "created_at": refund.created_at,
        "updated_at": refund.updated_at,
    }


def _refund(row: Row) -> Refund:
    return Refund(
        id=RefundId(row.id),
        payment_id=PaymentId(row.payment_id),
        amount=money(row.amount_minor, row.currency),
        reason=RefundReason(row.reason),
        request_key=row.request_key,
        status=RefundStatus(row.status),
        attempt=row.attempt,
        processor_refund_id=row.processor_refund_id,
        failure=row.failure,
        requested_by=None if row.requested_by is None else UserId(row.requested_by),
        resolved_by=None if row.resolved_by is None else UserId(row.resolved_by),
        note=row.note,
        created_at=to_utc(row.created_at),
        updated_at=to_utc(row.updated_at),
    )


class PostgisRefundRepository(PostgisPart, RefundRepository):
    async def add(self, refund: Refund) -> bool:
        statement = (
            insert(refunds)
            .values(_values(refund))
            .on_conflict_do_nothing(index_elements=[R.payment_id, R.request_key])
            .execution_options(preserve_rowcount=True)  # an INSERT's count is not kept by default
        )
        return (await self._run(statement)).rowcount == 1

    async def get(self, id: RefundId) -> Refund | None:
        return await self._one(R.id == id)

    async def by_request(self, payment_id: PaymentId, request_key: str) -> Refund | None:
        return await self._one(sa.and_(R.payment_id == payment_id, R.request_key == request_key))

    async def for_payment(self, payment_id: PaymentId) -> Sequence[Refund]:
        return await self._many(
            refunds.select().where(R.payment_id == payment_id).order_by(R.created_at, R.id)
        )

    async def for_processor(self, refund_ref: str) -> Refund | None:
        return await self._one(R.processor_refund_id == refund_ref)

    async def save(self, refund: Refund, expected: RefundStatus, expected_attempt: int) -> bool:
        values = _values(refund)
        del values["id"]
        result = await self._run(
            refunds.update()
            .where(R.id == refund.id, R.status == expected.value, R.attempt == expected_attempt)
            .values(values)
        )
        return result.rowcount == 1

    async def with_status(
        self, status: RefundStatus, older_than: datetime | None, limit: int
    ) -> Sequence[Refund]:
        """Oldest change first; `older_than` compares the last change (`updated_at`)."""
        query = refunds.select().where(R.status == status.value)
        if older_than is not None:
            query = query.where(R.updated_at < older_than)
        return await self._many(query.order_by(R.updated_at, R.id).limit(limit))

    async def _one(self, where: sa.ColumnElement[bool]) -> Refund | None:
        row = (await self._run(refunds.select().where(where))).first()
        return None if row is None else _refund(row)

    async def _many(self, query: sa.Select[Any]) -> Sequence[Refund]:
        return [_refund(row) for row in await self._run(query)]
