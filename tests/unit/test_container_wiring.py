"""`_wired`: the container builds a use case from the ports its fields name, and refuses at
definition time a use case that needs a port the container does not have."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from dependency_injector import providers
from pydantic import SecretStr

from adapters.bookings_desk import BookingsDesk
from adapters.stripe import StripePaymentGateway, StripeWebhookVerifier
from core.shared.use_case import UseCase
from entrypoints.container import PaymentsNotConfigured, _wired, build_container
from entrypoints.settings import Settings


@attrs.frozen(kw_only=True)
class Greet(UseCase):
    clock: object
    outbox: object
    greeting: str = "hello"


def test_a_use_case_is_built_from_the_ports_its_fields_name() -> None:
    clock, outbox = object(), object()

    built = _wired(Greet, {"clock": providers.Object(clock), "outbox": providers.Object(outbox)})()

    assert built == Greet(clock=clock, outbox=outbox)  # the default field needs no port


def test_a_missing_port_fails_when_the_use_case_is_wired() -> None:
    with pytest.raises(TypeError, match=r"Greet needs ports the container lacks: \['outbox'\]"):
        _wired(Greet, {"clock": providers.Object(object())})


# ---------------------------------------------------------------- the payments context

BASE = {
    "database_url": "postgresql+psycopg://reserva@127.0.0.1:1/reserva",  # never connected to
    "redis_url": "redis://127.0.0.1:1/0",
    "kek_file": Path("/nonexistent/kek.json"),
}
STRIPE = {
    "stripe_api_key": SecretStr("sk_test_wiring"),
    "stripe_publishable_key": "pk_test_wiring",
    "stripe_webhook_secret": SecretStr("whsec_wiring"),
    "stripe_api_base": "http://127.0.0.1:1",
    "payments_commission_percent": 12,
    "goodwill_cap_percent": 30,
}


async def test_payments_use_cases_get_stripe_the_bookings_desk_and_the_settings() -> None:
    container = build_container(Settings(**BASE, **STRIPE))  # type: ignore[arg-type]
    try:
        pay = container.pay_for_booking()
        receive = container.receive_processor_event()

        assert isinstance(pay.gateway, StripePaymentGateway)
        assert isinstance(pay.bookings, BookingsDesk)
        assert pay.settings.commission_percent == 12
        assert pay.settings.goodwill_cap_percent == 30
        assert isinstance(receive.verifier, StripeWebhookVerifier)
        assert container.settle_payments().gateway is pay.gateway  # one client per process
        assert container.closers() == [pay.gateway.close]
    finally:
        await container.close()
    assert container.closers() == []


async def test_without_stripe_keys_only_what_reaches_the_processor_refuses() -> None:
    container = build_container(Settings(**BASE))  # type: ignore[arg-type]

    pay = container.pay_for_booking()  # built: terms, holds and unpaid cancellations work
    with pytest.raises(PaymentsNotConfigured, match="STRIPE_API_KEY"):
        await pay.gateway.intent("pi_1")
    with pytest.raises(PaymentsNotConfigured, match="STRIPE_API_KEY"):
        container.receive_processor_event().verifier.verify(b"{}", "t=1,v1=00")
    assert container.closers() == []
