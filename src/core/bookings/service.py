"""Application services of the bookings context: one class per use case, each one transaction.

This module holds what they all share: their base (a unit-of-work factory, a clock, settings)
and the check that the caller may manage a provider.
"""

from __future__ import annotations

from datetime import timedelta

import attrs
from returns.result import Failure, Result, Success

from core.bookings.model import Provider
from core.bookings.ports import BookingsUnitOfWork
from core.shared.errors import DomainError, NotFound
from core.shared.ids import ProviderId
from core.shared.principal import Principal, may_manage
from core.shared.time import Clock
from core.shared.unit_of_work import UnitOfWorkFactory
from core.shared.use_case import UseCase


@attrs.frozen(kw_only=True)
class BookingSettings:
    hold_ttl: timedelta = timedelta(minutes=10)
    # The free-slot search filter reads candidates `search_batch` at a time (one round trip
    # each) and examines at most `search_budget` of them per request; `next` continues after.
    search_batch: int = attrs.field(default=50, validator=attrs.validators.ge(1))
    search_budget: int = attrs.field(default=200, validator=attrs.validators.ge(1))


@attrs.frozen(kw_only=True)
class BookingsUseCase(UseCase):
    uow: UnitOfWorkFactory[BookingsUnitOfWork]
    clock: Clock
    settings: BookingSettings = BookingSettings()


async def managed_provider(
    uow: BookingsUnitOfWork, caller: Principal, provider_id: ProviderId
) -> Result[Provider, DomainError]:
    provider = await uow.providers.get(provider_id)
    if provider is None:
        return Failure(NotFound(kind="provider", id=str(provider_id)))
    allowed = may_manage(caller, provider_id)
    if isinstance(allowed, Failure):
        return allowed
    return Success(provider)
