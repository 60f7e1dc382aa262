"""Payments' part of a person's export and erasure (`PersonalRecords`, section "payments").

Export: every payment the person made as a customer — part, amounts in minor units with their
currency (amount, captured, refunded), status, the address the checkout came from, times — with
its refunds (amount, reason, status, times, the staff note). Never card data: the processor's
card fingerprint and payment method id are tokens for the books and the velocity rules, not
something the person gave us, and no brand or last four digits are stored.

Erasure keeps the rows (GDPR Art. 17(3)(b) and tax law: the books must balance, and a refund
must still reach the original payment method through the processor's ids); they are
pseudonymous once identity deleted the users row. What goes: the sealed client addresses and
their lookup hashes, and the free-text notes staff wrote on the person's refunds. Idempotent;
it needs no key, so it works before or after the shred.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.payments.payments import CLIENT_IP
from adapters.postgis.payments.tables import payments, refunds
from adapters.postgis.unit_of_work import PostgisUnitOfWork
from core.consent.records import Json, PersonalRecords, export_time
from core.shared.ids import UserId
from core.shared.personal import PersonalData
from core.shared.unit_of_work import MAINTENANCE

P = payments.c
R = refunds.c


def _money(minor: int, currency: str) -> Json:
    return {"amount_minor": minor, "currency": currency}


class PostgisPaymentRecords(PersonalRecords):
    def __init__(self, engine: AsyncEngine, personal: PersonalData) -> None:
        self._engine = engine
        self._personal = personal

    @property
    def section(self) -> str:
        return "payments"

    async def export(self, person: UserId) -> Json:
        paid = (
            sa.select(
                P.id,
                P.booking_id,
                P.part,
                P.amount_minor,
                P.captured_minor,
                P.refunded_minor,
                P.currency,
                P.status,
                P.client_ip_sealed,
                P.created_at,
                P.updated_at,
            )
            .where(P.customer_id == person)
            .order_by(P.created_at, P.id)
        )
        refunded = (
            sa.select(
                R.id,
                R.payment_id,
                R.amount_minor,
                R.currency,
                R.reason,
                R.status,
                R.note,
                R.created_at,
                R.updated_at,
            )
            .join(payments, P.id == R.payment_id)
            .where(P.customer_id == person)
            .order_by(R.created_at, R.id)
        )
        async with PostgisUnitOfWork(self._engine, MAINTENANCE) as uow:
            rows = (await uow.connection.execute(paid)).all()
            refund_rows = (await uow.connection.execute(refunded)).all()
        by_payment: dict[object, list[Json]] = {}
        for r in refund_rows:
            by_payment.setdefault(r.payment_id, []).append(
                {
                    "id": str(r.id),
                    "amount": _money(r.amount_minor, r.currency),
                    "reason": r.reason,
                    "status": r.status,
                    "note": r.note,
                    "created_at": export_time(r.created_at),
                    "updated_at": export_time(r.updated_at),
                }
            )
        exported: list[Json] = []
        for row in rows:
            ip = None
            if row.client_ip_sealed is not None:
                ip = await self._personal.open(person, row.client_ip_sealed, field=CLIENT_IP)
            exported.append(
                {
                    "id": str(row.id),
                    "booking_id": str(row.booking_id),
                    "part": row.part,
                    "amount": _money(row.amount_minor, row.currency),
                    "captured": _money(row.captured_minor, row.currency),
                    "refunded": _money(row.refunded_minor, row.currency),
                    "status": row.status,
                    "client_ip": ip,
                    "created_at": export_time(row.created_at),
                    "updated_at": export_time(row.updated_at),
                    "refunds": by_payment.get(row.id, []),
                }
            )
        return exported

    async def erase(self, person: UserId) -> None:
        """Rows stay (the books); client addresses and refund notes go."""
        async with PostgisUnitOfWork(self._engine, MAINTENANCE) as uow:
            await uow.connection.execute(
                payments.update()
                .where(
                    P.customer_id == person,
                    sa.or_(P.client_ip_sealed.is_not(None), P.client_ip_hash.is_not(None)),
                )
                .values(client_ip_sealed=None, client_ip_hash=None)
            )
            mine = sa.select(P.id).where(P.customer_id == person).scalar_subquery()
            await uow.connection.execute(
                refunds.update()
                .where(R.payment_id.in_(mine), R.note.is_not(None))
                .values(note=None)
            )
            await uow.commit()
