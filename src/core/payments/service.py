"""What every payments use case shares: ports, clock and the platform's payment settings."""

from __future__ import annotations

from datetime import timedelta

import attrs

from core.payments.fraud import VelocityLimits
from core.payments.ports import BookingDesk, PaymentGateway, PaymentsUnitOfWork
from core.payments.terms import DEFAULT_POLICY, CancellationPolicy
from core.shared.time import Clock
from core.shared.unit_of_work import UnitOfWorkFactory
from core.shared.use_case import UseCase


@attrs.frozen(kw_only=True)
class PaymentSettings:
    commission_percent: int = 10  # the platform's share of every charge
    default_policy: CancellationPolicy = DEFAULT_POLICY  # for offerings without terms
    goodwill_cap_percent: int = 50  # goodwill refunds of a payment, at most this % of it
    velocity: VelocityLimits = attrs.field(factory=VelocityLimits)
    event_retry: timedelta = timedelta(seconds=30)  # first back-off of a failed event
    onboarding_return_url: str = "http://127.0.0.1:8000/providers/onboarded"
    account_country: str = "DE"  # where new connected accounts are opened (ISO 3166-1)


@attrs.frozen(kw_only=True)
class PaymentsUseCase(UseCase):
    uow: UnitOfWorkFactory[PaymentsUnitOfWork]
    gateway: PaymentGateway
    bookings: BookingDesk
    clock: Clock
    settings: PaymentSettings = PaymentSettings()
