"""Issue 10: a payment's client address is sealed under the customer (velocity counts by its
hash), exported with the payment's amounts and refunds, and erased while the rows stay."""

from __future__ import annotations

import uuid

import attrs
from payments_integration_support import payment, postgis_store
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.payments.records import PostgisPaymentRecords
from core.payments.model import Payment
from core.shared.unit_of_work import MAINTENANCE
from personal_support import postgis_personal
from raw_dump import raw_database

IP = "203.0.113.77"


async def test_client_ips_are_sealed_exported_and_erased_while_payments_stay(
    engine: AsyncEngine, owner_engine: AsyncEngine
) -> None:
    personal = postgis_personal(engine)
    store = postgis_store(engine, personal)
    records = PostgisPaymentRecords(engine, personal)
    paid: Payment = attrs.evolve(payment(), client_ip=IP)
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.payments.add(paid)
        await uow.commit()

    async with store.uow(MAINTENANCE) as uow:
        read = await uow.payments.get(paid.id)
    dump = await raw_database(owner_engine)
    exported = await records.export(paid.customer_id)
    await records.erase(paid.customer_id)
    await records.erase(paid.customer_id)
    async with store.uow(MAINTENANCE) as uow:
        kept = await uow.payments.get(paid.id)

    assert read is not None
    assert read.client_ip == IP
    assert IP not in dump
    assert isinstance(exported, list)
    assert len(exported) == 1
    assert exported[0]["client_ip"] == IP  # type: ignore[index,call-overload]
    assert exported[0]["amount"] == {  # type: ignore[index,call-overload]
        "amount_minor": paid.amount.minor,
        "currency": paid.amount.currency.code,
    }
    assert kept is not None
    assert kept.client_ip is None
    assert attrs.evolve(kept, client_ip=IP) == read  # nothing else changed
    assert uuid.UUID(str(exported[0]["id"])) == paid.id  # type: ignore[index,call-overload]
