"""The /v1 endpoints the fake serves, and which of them a connected account or a publishable
key may use."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from devservers.stripe_fake import connect, payments, refunds
from devservers.stripe_fake.call import Call
from devservers.stripe_fake.store import Obj, Store

Handler = Callable[[Store, Call], Obj]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    connect: bool  # honours Stripe-Account (a connected account's balance, payouts, events)
    client: bool  # open to a publishable key with the right client_secret (Stripe.js)


def pattern(path: str) -> re.Pattern[str]:
    return re.compile("^" + path.replace("{id}", "(?P<id>[^/]+)") + "$")


def retriever(kind: str) -> Handler:
    def retrieve(store: Store, call: Call) -> Obj:
        call.params.allow(())
        return store.find(call.id, kind, account=call.account)

    return retrieve


def lister(kind: str, filters: tuple[str, ...] = ()) -> Handler:
    """A list endpoint; each filter must equal the object's field of that name, except
    `types` (events), which lists the types to keep."""

    def list_objects(store: Store, call: Call) -> Obj:
        p = call.params
        p.allow(("limit", "starting_after", "ending_before", "created", *filters))
        fields = [name for name in filters if name != "types"]
        wanted = {name: value for name in fields if (value := p.text(name)) is not None}
        types = p.strings("types")
        return store.page(
            kind,
            p,
            f"/v1/{kind}s",
            call.account,
            lambda obj: (
                all(obj.get(k) == v for k, v in wanted.items())
                and (types is None or obj["type"] in types)
            ),
        )

    return list_objects


def _route(
    method: str, path: str, handler: Handler, *, connect: bool = False, client: bool = False
) -> Route:
    return Route(method, pattern(path), handler, connect, client)


ROUTES = [
    _route("POST", "/v1/customers", payments.create_customer),
    _route("GET", "/v1/customers", lister("customer", ("email",))),
    _route("GET", "/v1/customers/{id}", retriever("customer")),
    _route("GET", "/v1/payment_methods", lister("payment_method", ("customer", "type"))),
    _route("GET", "/v1/payment_methods/{id}", retriever("payment_method")),
    _route("POST", "/v1/payment_intents", payments.create_payment_intent),
    _route("GET", "/v1/payment_intents", lister("payment_intent", ("customer",))),
    _route("GET", "/v1/payment_intents/{id}", payments.retrieve_payment_intent, client=True),
    _route("POST", "/v1/payment_intents/{id}", payments.update_payment_intent),
    _route(
        "POST", "/v1/payment_intents/{id}/confirm", payments.confirm_payment_intent, client=True
    ),
    _route("POST", "/v1/payment_intents/{id}/cancel", payments.cancel_payment_intent),
    _route("POST", "/v1/payment_intents/{id}/capture", payments.capture_payment_intent),
    _route("GET", "/v1/charges", lister("charge", ("payment_intent", "customer"))),
    _route("GET", "/v1/charges/{id}", retriever("charge")),
    _route("POST", "/v1/refunds", refunds.create_refund),
    _route("GET", "/v1/refunds", lister("refund", ("payment_intent", "charge"))),
    _route("GET", "/v1/refunds/{id}", retriever("refund")),
    _route("POST", "/v1/accounts", connect.create_account),
    _route("GET", "/v1/accounts", lister("account")),
    _route("GET", "/v1/accounts/{id}", retriever("account")),
    _route("POST", "/v1/account_links", connect.create_account_link),
    _route("GET", "/v1/balance", connect.balance, connect=True),
    _route(
        "GET",
        "/v1/balance_transactions",
        lister("balance_transaction", ("type", "source", "currency")),
        connect=True,
    ),
    _route("GET", "/v1/balance_transactions/{id}", retriever("balance_transaction"), connect=True),
    _route("GET", "/v1/payouts", lister("payout"), connect=True),
    _route("GET", "/v1/payouts/{id}", retriever("payout"), connect=True),
    _route("GET", "/v1/transfers/{id}", retriever("transfer")),
    _route("GET", "/v1/application_fees/{id}", retriever("application_fee")),
    _route("GET", "/v1/events", lister("event", ("type", "types")), connect=True),
    _route("GET", "/v1/events/{id}", retriever("event"), connect=True),
]


def match(method: str, path: str) -> tuple[Route | None, str]:
    """The route for a request and the object id in its path."""
    for route in ROUTES:
        found = route.pattern.match(path)
        if found and route.method == method:
            return route, found.groupdict().get("id", "")
    return None, ""
