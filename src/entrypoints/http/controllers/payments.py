"""Paying for bookings, the payment terms customers accept, and providers' money.

Card details never come here: the customer's browser confirms the payment with Stripe.js
using the client secret answered by `POST /bookings/{id}/payment`; the booking confirms when
Stripe says the money arrived (its webhook), not when the browser says so.
"""

from __future__ import annotations

import uuid
from functools import partial
from typing import Annotated, Any

from litestar import Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter

from core.payments import (
    GetBookingPayments,
    GetOfferingTerms,
    ListMyPayments,
    PayForBooking,
    PaymentId,
    ProviderMoney,
    SetOfferingTerms,
    StartProviderOnboarding,
)
from core.shared.ids import BookingId, OfferingId, ProviderId
from core.shared.principal import Principal
from entrypoints.http.auth import PUBLIC, SECURITY
from entrypoints.http.dto import DEFAULT_LIMIT, Limit
from entrypoints.http.payments_dto import (
    CheckoutOut,
    OnboardingIn,
    OnboardingOut,
    PaymentOut,
    PaymentsOut,
    PaymentWithRefundsOut,
    ProviderBalanceOut,
    TermsIn,
    TermsOut,
)
from entrypoints.http.problems import PUBLIC_PROBLEMS, SIGNED_IN_PROBLEMS, ok
from entrypoints.http.rate_limit import client_ip

Before = Annotated[
    uuid.UUID | None,
    QueryParameter(description="the id of the last payment of the previous page"),
]

_read = partial(get, tags=["payments"], security=SECURITY, responses=SIGNED_IN_PROBLEMS)


@post(
    "/bookings/{booking_id:str}/payment",
    summary="Pay for a hold (creates or returns its payment)",
    description="Starts the payment of what the booking owes now (the whole price, or the "
    "deposit when its terms ask for one), or returns the open one: 201 when it was created, "
    "200 when returned. Confirm it in the browser with Stripe.js (`client_secret`, "
    "`publishable_key`); the booking confirms when Stripe reports the money, and a hold that "
    "expired meanwhile is refunded in full if its slot was taken. `terms` are the refund "
    "policy and deposit the customer accepted by holding.",
    tags=["payments"],
    security=SECURITY,
    status_code=201,
    responses={
        **SIGNED_IN_PROBLEMS,
        200: ResponseSpec(data_container=CheckoutOut, description="The open payment, again"),
    },
)
async def pay(
    request: Request[Principal, Any, Any],
    booking_id: FromPath[uuid.UUID],
    principal: NamedDependency[Principal],
    pay_for_booking: NamedDependency[PayForBooking],
    publishable_key: NamedDependency[str],
) -> Response[CheckoutOut]:
    started = ok(await pay_for_booking(principal, BookingId(booking_id), client_ip(request.scope)))
    answer = CheckoutOut(
        payment=PaymentOut.of(started.payment),
        client_secret=started.client_secret,
        publishable_key=publishable_key,
        terms=TermsOut.of(started.terms),
    )
    return Response(answer, status_code=201 if started.created else 200)


@_read(
    "/bookings/{booking_id:str}/payment",
    summary="A booking's payments and their refunds",
    description="For its customer, its provider's staff and admins; oldest first, including "
    "the payments of the bookings it was rescheduled from (a deposit and its balance are made "
    "together: tell them by `part`).",
)
async def booking_payments(
    booking_id: FromPath[uuid.UUID],
    principal: NamedDependency[Principal],
    get_booking_payments: NamedDependency[GetBookingPayments],
) -> list[PaymentWithRefundsOut]:
    found = ok(await get_booking_payments(principal, BookingId(booking_id)))
    return [PaymentWithRefundsOut.of(record) for record in found]


@_read(
    "/me/payments",
    summary="My payments, newest first",
    description="Who may call: any signed-in user (their own payments, with refunds). Pages "
    "by `before`: the `next` of the previous page.",
)
async def my_payments(
    principal: NamedDependency[Principal],
    list_my_payments: NamedDependency[ListMyPayments],
    limit: Limit = DEFAULT_LIMIT,
    before: Before = None,
) -> PaymentsOut:
    cursor = None if before is None else PaymentId(before)
    found = ok(await list_my_payments(principal, limit, cursor))
    return PaymentsOut(
        items=[PaymentWithRefundsOut.of(record) for record in found],
        next=str(found[-1].payment.id) if len(found) == limit else None,
    )


# ---------------------------------------------------------------- terms


@get(
    "/offerings/{offering_id:str}/terms",
    summary="The payment terms of an offering",
    description="What a customer accepts by holding a slot now: the cancellation policy's "
    "refund tiers and the deposit, if any. A payment refunds by the version in effect when "
    "its booking was held, whatever the provider changes later.",
    tags=["payments"],
    opt={PUBLIC: True},
    responses=PUBLIC_PROBLEMS,
)
async def offering_terms(
    offering_id: FromPath[uuid.UUID],
    get_offering_terms: NamedDependency[GetOfferingTerms],
) -> TermsOut:
    return TermsOut.of(ok(await get_offering_terms(OfferingId(offering_id))))


@put(
    "/offerings/{offering_id:str}/terms",
    summary="Change an offering's payment terms (staff)",
    description="A new version, effective now for new holds; bookings held before keep the "
    "version they were held under. Staff of the provider or admins, with a second factor.",
    tags=["payments"],
    security=SECURITY,
    responses=SIGNED_IN_PROBLEMS,
)
async def set_terms(
    offering_id: FromPath[uuid.UUID],
    data: JSONBody[TermsIn],
    principal: NamedDependency[Principal],
    set_offering_terms: NamedDependency[SetOfferingTerms],
) -> TermsOut:
    policy, deposit = ok(data.policy()), ok(data.deposit_rule())
    terms = await set_offering_terms(principal, OfferingId(offering_id), policy, deposit)
    return TermsOut.of(ok(terms))


# ---------------------------------------------------------------- providers' money


@post(
    "/providers/{provider_id:str}/payments/onboarding",
    summary="Start or continue the provider's Stripe onboarding (staff)",
    description="A one-time link to Stripe's hosted onboarding of the provider's connected "
    "account (made on the first call). The provider takes payments once Stripe enables "
    "charges on it. Stripe sends the browser to `return_url` when done, to `refresh_url` when "
    "the link expired.",
    tags=["payments"],
    security=SECURITY,
    status_code=200,
    responses=SIGNED_IN_PROBLEMS,
)
async def onboarding(
    provider_id: FromPath[uuid.UUID],
    data: JSONBody[OnboardingIn],
    principal: NamedDependency[Principal],
    start_provider_onboarding: NamedDependency[StartProviderOnboarding],
) -> OnboardingOut:
    link = await start_provider_onboarding(
        principal, ProviderId(provider_id), data.return_url, data.refresh_url
    )
    return OnboardingOut(url=ok(link))


@_read(
    "/providers/{provider_id:str}/balance",
    summary="The provider's money (staff)",
    description="Our books (owed to the provider, paid out to their bank) beside the "
    "connected account's balance at Stripe, and whether it takes charges and payouts.",
)
async def provider_balance(
    provider_id: FromPath[uuid.UUID],
    principal: NamedDependency[Principal],
    provider_money: NamedDependency[ProviderMoney],
) -> ProviderBalanceOut:
    return ProviderBalanceOut.of(ok(await provider_money(principal, ProviderId(provider_id))))


ROUTES = [
    pay,
    booking_payments,
    my_payments,
    offering_terms,
    set_terms,
    onboarding,
    provider_balance,
]
