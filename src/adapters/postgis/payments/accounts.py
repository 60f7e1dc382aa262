"""Providers' connected accounts at the processor (the idempotency key is stored first)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.postgis.payments.tables import provider_accounts
from adapters.postgis.unit_of_work import PostgisPart
from core.payments.ports import ProviderAccount, ProviderAccounts
from core.shared.ids import ProviderId
from core.shared.time import to_utc

A = provider_accounts.c


class PostgisProviderAccounts(PostgisPart, ProviderAccounts):
    async def get(self, provider_id: ProviderId) -> ProviderAccount | None:
        return await self._one(A.provider_id == provider_id)

    async def by_ref(self, account_ref: str) -> ProviderAccount | None:
        return await self._one(A.account_ref == account_ref)

    async def put(self, account: ProviderAccount) -> None:
        values = {
            "account_ref": account.account_ref,
            "idempotency_key": account.idempotency_key,
            "charges_enabled": account.charges_enabled,
            "payouts_enabled": account.payouts_enabled,
            "updated_at": account.updated_at,
        }
        await self._run(
            insert(provider_accounts)
            .values(provider_id=account.provider_id, **values)
            .on_conflict_do_update(index_elements=[A.provider_id], set_=values)
        )

    async def _one(self, where: sa.ColumnElement[bool]) -> ProviderAccount | None:
        row = (await self._run(provider_accounts.select().where(where))).first()
        if row is None:
            return None
        return ProviderAccount(
            provider_id=ProviderId(row.provider_id),
            account_ref=row.account_ref,
            idempotency_key=row.idempotency_key,
            charges_enabled=row.charges_enabled,
            payouts_enabled=row.payouts_enabled,
            updated_at=to_utc(row.updated_at),
        )
