"""An offering's payment terms: its staff set a new version; anyone reads the current one.

A version is never edited: a payment keeps a copy of the version in effect when its booking
was held, so changing the terms never changes what an earlier customer agreed to.
"""

from __future__ import annotations

from datetime import datetime

import attrs
from returns.result import Failure, Result, Success

from core.payments.ports import TermsInEffect
from core.payments.service import PaymentSettings, PaymentsUseCase
from core.payments.steps import default_terms, terms_at
from core.payments.terms import CancellationPolicy, DepositRule, OfferingTerms
from core.shared.errors import DomainError, NotFound
from core.shared.ids import OfferingId, ProviderId
from core.shared.principal import Principal, may_manage
from core.shared.unit_of_work import PUBLIC, Access
from core.shared.use_case import UseCase


@attrs.frozen
class TermsChangedMeanwhile(DomainError):
    """Someone else saved a new version at the same moment, twice in a row."""

    @property
    def detail(self) -> str:
        return "the terms were changed by someone else meanwhile; reload them and try again"


class SetOfferingTerms(PaymentsUseCase):
    async def __call__(
        self,
        caller: Principal,
        offering_id: OfferingId,
        policy: CancellationPolicy,
        deposit: DepositRule | None,
    ) -> Result[OfferingTerms, DomainError]:
        allowed = await self._managed(caller, offering_id)
        if isinstance(allowed, Failure):
            return allowed
        for _ in range(2):  # a concurrent change takes the version: count on from it
            async with self.uow(Access.of(caller)) as uow:
                latest = await uow.terms.latest(offering_id)
                terms = OfferingTerms(
                    offering_id=offering_id,
                    version=1 if latest is None else latest.version + 1,
                    policy=policy,
                    deposit=deposit,
                    effective_from=self.clock.now(),
                )
                if not await uow.terms.add(terms):
                    continue
                await uow.audit.append(
                    "terms.changed", terms.effective_from, caller.user_id, None, terms.snapshot()
                )
                await uow.commit()
                return Success(terms)
        return Failure(TermsChangedMeanwhile())

    async def _managed(
        self, caller: Principal, offering_id: OfferingId
    ) -> Result[ProviderId, DomainError]:
        provider_id = await self.bookings.offering_provider(offering_id)
        if provider_id is None:
            return Failure(NotFound(kind="offering", id=str(offering_id)))
        return may_manage(caller, provider_id).map(lambda _: provider_id)


class GetOfferingTerms(PaymentsUseCase):
    """Public: what a customer agrees to by holding a slot of this offering now, or, given
    `at`, what a hold made at that instant agreed to (the version its payment snapshots)."""

    async def __call__(
        self, offering_id: OfferingId, at: datetime | None = None
    ) -> Result[OfferingTerms, DomainError]:
        if await self.bookings.offering_provider(offering_id) is None:
            return Failure(NotFound(kind="offering", id=str(offering_id)))
        when = self.clock.now() if at is None else at
        async with self.uow(PUBLIC) as uow:
            return Success(await terms_at(uow, self.settings, offering_id, when))


@attrs.frozen(kw_only=True)
class GetHeldTerms(UseCase):
    """What a hold just made agreed to: the terms in effect at its creation, the version its
    payment will snapshot. The hold proved that its offering exists, so this is one read
    (GetOfferingTerms also looks the offering up)."""

    terms: TermsInEffect
    settings: PaymentSettings = attrs.field(factory=PaymentSettings)

    async def __call__(self, offering_id: OfferingId, held_at: datetime) -> OfferingTerms:
        return await self.terms.at(offering_id, held_at) or default_terms(self.settings)
