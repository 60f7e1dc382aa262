"""Providers at the processor (Stripe Connect): onboarding, and what they are owed and paid."""

from __future__ import annotations

from collections.abc import Sequence

import attrs
from returns.result import Failure, Result, Success

from core.payments.ledger import Balance
from core.payments.ports import AccountView, ProviderAccount
from core.payments.service import PaymentsUseCase
from core.shared.errors import DomainError
from core.shared.ids import ProviderId
from core.shared.money import Money
from core.shared.principal import Principal, may_manage
from core.shared.unit_of_work import Access


@attrs.frozen(kw_only=True)
class ProviderMoneyView:
    provider_id: ProviderId
    account_ref: str | None
    charges_enabled: bool
    payouts_enabled: bool
    ledger: tuple[Balance, ...]  # what our books say: payable and paid out
    processor: tuple[tuple[str, Money], ...]  # the connected account's balance (available...)


class StartProviderOnboarding(PaymentsUseCase):
    """The link where the provider's staff finish their account at the processor; the
    account is created once (its key stored before the processor is asked)."""

    async def __call__(
        self, caller: Principal, provider_id: ProviderId, return_url: str, refresh_url: str
    ) -> Result[str, DomainError]:
        allowed = may_manage(caller, provider_id)
        if isinstance(allowed, Failure):
            return allowed
        account = await self._account(caller, provider_id)
        link = await self.gateway.onboarding_link(account, return_url, refresh_url)
        return Success(link)

    async def _account(self, caller: Principal, provider_id: ProviderId) -> str:
        known = await self._stored(caller, provider_id)
        if known.account_ref is not None:
            return known.account_ref
        view = await self.gateway.create_account(
            provider_id, None, self.settings.account_country, known.idempotency_key
        )
        await self._created(caller, known, view)
        return view.account_ref

    async def _stored(self, caller: Principal, provider_id: ProviderId) -> ProviderAccount:
        """The provider's account row; a new one holds only its key, stored before the
        processor is asked, so a retry after a crash reuses the key."""
        async with self.uow(Access.of(caller)) as uow:
            known = await uow.accounts.get(provider_id)
            if known is None:
                known = ProviderAccount(
                    provider_id=provider_id,
                    account_ref=None,
                    idempotency_key=f"account-{provider_id}",
                    updated_at=self.clock.now(),
                )
                await uow.accounts.put(known)
                await uow.commit()
        return known

    async def _created(self, caller: Principal, known: ProviderAccount, view: AccountView) -> None:
        now = self.clock.now()
        async with self.uow(Access.of(caller)) as uow:
            await uow.accounts.put(
                attrs.evolve(
                    known,
                    account_ref=view.account_ref,
                    charges_enabled=view.charges_enabled,
                    payouts_enabled=view.payouts_enabled,
                    updated_at=now,
                )
            )
            await uow.audit.append(
                "connect.onboarding_started",
                now,
                caller.user_id,
                None,
                {"provider_id": str(known.provider_id), "account_ref": view.account_ref},
            )
            await uow.commit()


class ProviderMoney(PaymentsUseCase):
    async def __call__(
        self, caller: Principal, provider_id: ProviderId
    ) -> Result[ProviderMoneyView, DomainError]:
        allowed = may_manage(caller, provider_id)
        if isinstance(allowed, Failure):
            return allowed
        async with self.uow(Access.of(caller)) as uow:
            account = await uow.accounts.get(provider_id)
            books = await uow.ledger.balances(provider_id)
        ref = None if account is None else account.account_ref
        processor: Sequence[tuple[str, Money]] = (
            () if ref is None else await self.gateway.account_balance(ref)
        )
        return Success(
            ProviderMoneyView(
                provider_id=provider_id,
                account_ref=ref,
                charges_enabled=account is not None and account.charges_enabled,
                payouts_enabled=account is not None and account.payouts_enabled,
                ledger=tuple(books),
                processor=tuple(processor),
            )
        )
