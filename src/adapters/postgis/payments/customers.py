"""Customers' references at the processor (the idempotency key is stored first)."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert

from adapters.postgis.payments.tables import processor_customers
from adapters.postgis.unit_of_work import PostgisPart
from core.payments.ports import CustomerRef, ProcessorCustomers
from core.shared.ids import UserId

C = processor_customers.c


class PostgisProcessorCustomers(PostgisPart, ProcessorCustomers):
    async def get(self, user_id: UserId) -> CustomerRef | None:
        row = (await self._run(processor_customers.select().where(C.user_id == user_id))).first()
        if row is None:
            return None
        return CustomerRef(
            user_id=UserId(row.user_id),
            customer_ref=row.customer_ref,
            idempotency_key=row.idempotency_key,
        )

    async def put(self, customer: CustomerRef) -> None:
        values = {
            "customer_ref": customer.customer_ref,
            "idempotency_key": customer.idempotency_key,
        }
        await self._run(
            insert(processor_customers)
            .values(user_id=customer.user_id, **values)
            .on_conflict_do_update(index_elements=[C.user_id], set_=values)
        )
