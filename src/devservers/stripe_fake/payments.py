"""Customers, PaymentMethods, PaymentIntents and the charges they make.

A PaymentIntent moves as Stripe's does: requires_payment_method -> (confirm) -> succeeded,
requires_capture (capture_method=manual), requires_action (3-D Secure: the customer's browser
goes to next_action.redirect_to_url.url, the fake's bank page `/_3ds/<pi>`), or back to
requires_payment_method with last_payment_error when the card is declined or fails
authentication. What happens at confirmation is decided by the test card (cards.py).
"""

from __future__ import annotations

from typing import NoReturn

from devservers.stripe_fake import charges, money
from devservers.stripe_fake.call import Call
from devservers.stripe_fake.cards import DECLINE_MESSAGES, TEST_CARDS
from devservers.stripe_fake.errors import StripeError, invalid, unexpected_state
from devservers.stripe_fake.forms import Params
from devservers.stripe_fake.store import Obj, Store, new_id, now, public

OPEN = ("requires_payment_method", "requires_confirmation", "requires_action")
CANCELABLE = (*OPEN, "requires_capture", "processing")
_PI_CREATE = (
    "amount", "currency", "customer", "automatic_payment_methods", "payment_method_types",
    "metadata", "description", "transfer_data", "application_fee_amount", "on_behalf_of",
    "setup_future_usage", "capture_method", "payment_method", "off_session", "confirm",
    "return_url", "receipt_email", "statement_descriptor_suffix", "transfer_group",
)  # fmt: skip
_PI_UPDATE = (
    "amount", "currency", "customer", "metadata", "description", "application_fee_amount",
    "setup_future_usage", "payment_method", "receipt_email", "capture_method",
)  # fmt: skip
_USAGES = ("on_session", "off_session")
_CAPTURES = ("automatic", "automatic_async", "manual")
_ANYTIME = {"metadata", "description", "expand"}  # updatable whatever the status, as on Stripe
_DOCS = "https://docs.stripe.com/error-codes"


def create_customer(store: Store, call: Call) -> Obj:
    p = call.params
    p.allow(("email", "name", "description", "phone", "metadata"))
    customer = store.add(
        "cus",
        "customer",
        {
            "balance": 0,
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": p.text("description"),
            "email": p.text("email"),
            "invoice_settings": {"default_payment_method": None},
            "metadata": p.metadata(),
            "name": p.text("name"),
            "phone": p.text("phone"),
        },
    )
    store.emit("customer.created", customer)
    return customer


def retrieve_payment_intent(store: Store, call: Call) -> Obj:
    pi = store.find(call.id, "payment_intent")
    call.params.allow(("client_secret",))
    if call.publishable:
        _check_client_secret(pi, call.params)
    return pi


def create_payment_intent(store: Store, call: Call) -> Obj:
    p = call.params
    p.allow(_PI_CREATE)
    amount = p.required_integer("amount", minimum=1)
    currency = money.currency_code(p.required_text("currency"))
    money.check_charge_amount(amount, currency)
    customer = p.text("customer")
    if customer is not None:
        store.find(customer, "customer", param="customer")
    confirm = bool(p.flag("confirm"))
    off_session = _off_session(p)
    if off_session and not confirm:
        raise invalid("off_session can only be used when confirm=true.", param="off_session")
    fields = {**_payment_method_types(p), **_connect_fields(store, p, amount)}
    method = p.text("payment_method")  # checked last: a test token makes a PaymentMethod
    pm = _payment_method(store, customer, method) if method is not None else None
    pi = store.add(
        "pi",
        "payment_intent",
        {
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "application": None,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": p.text("capture_method", _CAPTURES) or "automatic_async",
            "client_secret": None,
            "confirmation_method": "automatic",
            "currency": currency,
            "customer": customer,
            "description": p.text("description"),
            "last_payment_error": None,
            "latest_charge": None,
            "metadata": p.metadata(),
            "next_action": None,
            "payment_method": pm["id"] if pm else None,
            "processing": None,
            "receipt_email": p.text("receipt_email"),
            "setup_future_usage": p.text("setup_future_usage", _USAGES),
            "statement_descriptor_suffix": p.text("statement_descriptor_suffix"),
            "status": "requires_payment_method",
            "transfer_group": p.text("transfer_group"),
            **fields,
        },
    )
    pi["client_secret"] = f"{pi['id']}_secret_{new_id('x', 25)[2:]}"
    if pm is not None:
        pi["status"] = "requires_confirmation"
    store.emit("payment_intent.created", pi)
    if confirm:
        return _confirm(store, pi, call, None, off_session, p.text("return_url"))
    return pi


def update_payment_intent(store: Store, call: Call) -> Obj:
    """Metadata and description at any time; the rest while the payment is still open."""
    pi = store.find(call.id, "payment_intent")
    p = call.params
    p.allow(_PI_UPDATE)
    if pi["status"] not in OPEN and set(p.data) - _ANYTIME:
        raise unexpected_state(
            f"You cannot update this PaymentIntent because it has a status of {pi['status']}. "
            "Only metadata and description may change now."
        )
    # Everything is checked before anything changes: a refused update changes nothing.
    changed: Obj = {"metadata": p.metadata(pi["metadata"])}
    changed |= {key: p.text(key) for key in ("description", "receipt_email") if key in p.data}
    amount = p.integer("amount", minimum=1) or pi["amount"]
    currency = money.currency_code(p.text("currency") or pi["currency"])
    money.check_charge_amount(amount, currency)
    fee = p.integer("application_fee_amount", minimum=0)
    fee = pi["application_fee_amount"] if fee is None else fee
    if fee is not None and fee > amount:
        raise _fee_too_large()
    changed |= {"amount": amount, "currency": currency, "application_fee_amount": fee}
    if (customer := p.text("customer")) is not None:
        changed["customer"] = store.find(customer, "customer", param="customer")["id"]
    for key, choices in (("setup_future_usage", _USAGES), ("capture_method", _CAPTURES)):
        changed[key] = p.text(key, choices) or pi[key]
    if (method := p.text("payment_method")) is not None:
        pm = _payment_method(store, changed.get("customer", pi["customer"]), method)
        changed |= {"payment_method": pm["id"], "status": "requires_confirmation"}
    pi |= changed
    return pi


def confirm_payment_intent(store: Store, call: Call) -> Obj:
    pi = store.find(call.id, "payment_intent")
    p = call.params
    if call.publishable:  # Stripe.js in the browser: only what a client may say
        _check_client_secret(pi, p)
        p.allow(("client_secret", "payment_method", "return_url"))
    else:
        p.allow(
            ("payment_method", "return_url", "off_session", "setup_future_usage", "client_secret")
        )
    if (usage := p.text("setup_future_usage", _USAGES)) is not None:
        pi["setup_future_usage"] = usage
    return _confirm(
        store, pi, call, p.text("payment_method"), _off_session(p), p.text("return_url")
    )


def capture_payment_intent(store: Store, call: Call) -> Obj:
    pi = store.find(call.id, "payment_intent")
    p = call.params
    p.allow(("amount_to_capture", "application_fee_amount", "metadata"))
    if pi["status"] != "requires_capture":
        raise unexpected_state(
            f"This PaymentIntent could not be captured because it has a status of "
            f"{pi['status']}. Only a PaymentIntent with one of the following statuses may be "
            "captured: requires_capture."
        )
    amount = p.integer("amount_to_capture", minimum=1) or pi["amount_capturable"]
    if amount > pi["amount_capturable"]:
        raise invalid(
            f"The amount to capture ({amount}) is greater than the amount capturable "
            f"({pi['amount_capturable']}).",
            param="amount_to_capture",
            code="amount_too_large",
        )
    fee = p.integer("application_fee_amount", minimum=0)
    if fee is not None and fee > amount:
        raise _fee_too_large()
    pi["metadata"] = p.metadata(pi["metadata"])
    if fee is not None:
        pi["application_fee_amount"] = fee
    charge = store.find(pi["latest_charge"], "charge")
    charges.capture(store, pi, charge, amount)
    store.emit("charge.captured", charge)
    store.emit("payment_intent.succeeded", pi)
    return pi


def cancel_payment_intent(store: Store, call: Call) -> Obj:
    pi = store.find(call.id, "payment_intent")
    p = call.params
    p.allow(("cancellation_reason",))
    reasons = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
    reason = p.text("cancellation_reason", reasons)
    if pi["status"] not in CANCELABLE:
        raise unexpected_state(
            f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}. "
            f"Only a PaymentIntent with one of the following statuses may be canceled: "
            f"{', '.join(CANCELABLE)}."
        )
    if pi["status"] == "requires_capture":  # the authorisation is released, as a refund
        charge = store.find(pi["latest_charge"], "charge")
        charge |= {"amount_refunded": charge["amount"], "refunded": True}
        store.emit("charge.refunded", charge)
    pi |= {
        "status": "canceled",
        "canceled_at": now(),
        "cancellation_reason": reason,
        "amount_capturable": 0,
        "next_action": None,
    }
    store.emit("payment_intent.canceled", pi)
    return pi


def authenticate(store: Store, pi_id: str, passed: bool) -> Obj:
    """The customer's answer on the bank's 3-D Secure page."""
    pi = store.find(pi_id, "payment_intent")
    if pi["status"] != "requires_action":
        raise unexpected_state(
            f"This PaymentIntent is not awaiting authentication: {pi['status']}."
        )
    pm = store.find(pi["payment_method"], "payment_method")
    if passed:
        return _succeed(store, pi, pm, authenticated=True)
    pi |= {
        "status": "requires_payment_method",
        "next_action": None,
        "payment_method": None,
        "last_payment_error": {
            "code": "payment_intent_authentication_failure",
            "doc_url": f"{_DOCS}#payment-intent-authentication-failure",
            "message": "The provided PaymentMethod has failed authentication. You can provide "
            "payment_method_data or a new PaymentMethod to attempt to fulfill this "
            "PaymentIntent again.",
            "payment_method": public(pm),
            "type": "invalid_request_error",
        },
    }
    store.emit("payment_intent.payment_failed", pi)
    return pi


def _confirm(
    store: Store, pi: Obj, call: Call, method: str | None, off_session: bool, return_url: str | None
) -> Obj:
    if pi["status"] not in OPEN:
        raise unexpected_state(
            f"You cannot confirm this PaymentIntent because it has a status of {pi['status']}."
        )
    method = method or pi["payment_method"]
    if method is None:
        raise invalid(
            "You cannot confirm this PaymentIntent because it's missing a payment method.",
            param="payment_method",
            code="payment_intent_unexpected_state",
        )
    pm = _payment_method(store, pi["customer"], method)
    card = charges.card_of(pm)
    pi |= {"payment_method": pm["id"], "last_payment_error": None, "next_action": None}
    # A card saved for off-session use (with 3DS at setup) is exempt from 3DS off-session.
    exempt = card.three_d_secure == "on_session" and off_session and pm["_saved_off_session"]
    if card.three_d_secure != "never" and not exempt:
        if off_session:  # nobody is there to authenticate
            _decline(store, pi, pm, "authentication_required")
        pi |= {
            "status": "requires_action",
            "next_action": {
                "type": "redirect_to_url",
                "redirect_to_url": {
                    "url": f"{call.base_url}/_3ds/{pi['id']}",
                    "return_url": return_url,
                },
            },
        }
        store.emit("payment_intent.requires_action", pi)
        return pi
    if card.risk_level == "highest":
        _decline(store, pi, pm, "fraudulent")
    if card.decline_code is not None:
        _decline(store, pi, pm, card.decline_code)
    return _succeed(store, pi, pm)


def _payment_method(store: Store, customer: str | None, method: str) -> Obj:
    """A new PaymentMethod for a test token, or a stored one a payment for `customer` may use."""
    card = TEST_CARDS.get(method)
    if card is not None:
        return charges.new_payment_method(store, method, card)
    pm = store.find(method, "payment_method", param="payment_method")
    owner = pm["customer"]
    if owner is not None and owner != customer:
        raise invalid(
            f"The PaymentMethod {method} belongs to Customer {owner}; pass that customer (and "
            "only that one) to use it.",
            param="payment_method",
        )
    if owner is None and pm["_consumed"]:
        raise invalid(
            "This PaymentMethod was previously used without being attached to a Customer or was "
            "detached from a Customer, and may not be used again.",
            param="payment_method",
        )
    return pm


def _succeed(store: Store, pi: Obj, pm: Obj, authenticated: bool = False) -> Obj:
    charge = charges.new_charge(store, pi, pm, authenticated=authenticated)
    pi |= {"latest_charge": charge["id"], "next_action": None}
    if pi["setup_future_usage"] is not None and pi["customer"] is not None:
        pm["customer"] = pi["customer"]
        pm["_saved_off_session"] |= pi["setup_future_usage"] == "off_session"
        store.emit("payment_method.attached", pm)
    pm["_consumed"] = True
    if pi["capture_method"] == "manual":
        pi |= {"status": "requires_capture", "amount_capturable": pi["amount"]}
        store.emit("charge.succeeded", charge)
        store.emit("payment_intent.amount_capturable_updated", pi)
        return pi
    charges.capture(store, pi, charge, pi["amount"])
    store.emit("charge.succeeded", charge)
    store.emit("payment_intent.succeeded", pi)
    return pi


def _decline(store: Store, pi: Obj, pm: Obj, decline_code: str) -> NoReturn:
    """Record the failed charge and answer 402 card_error, as Stripe does."""
    code = (
        "authentication_required" if decline_code == "authentication_required" else "card_declined"
    )
    message = DECLINE_MESSAGES.get(decline_code, "Your card was declined.")
    charge = charges.new_charge(store, pi, pm, failure=(code, decline_code, message))
    error = {
        "charge": charge["id"],
        "code": code,
        "decline_code": decline_code,
        "doc_url": f"{_DOCS}#{code.replace('_', '-')}",
        "message": message,
        "payment_method": public(pm),
        "type": "card_error",
    }
    pi |= {
        "status": "requires_payment_method",
        "payment_method": None,
        "latest_charge": charge["id"],
        "last_payment_error": error,
    }
    store.emit("charge.failed", charge)
    store.emit("payment_intent.payment_failed", pi)
    raise StripeError(
        402,
        "card_error",
        message,
        code=code,
        decline_code=decline_code,
        extra={"charge": charge["id"], "payment_intent": public(pi), "payment_method": public(pm)},
    )


def _payment_method_types(p: Params) -> Obj:
    automatic = p.nested("automatic_payment_methods", ("enabled", "allow_redirects"))
    types = p.strings("payment_method_types")
    if automatic is not None and types is not None:
        raise invalid(
            "You may only specify one of these parameters: automatic_payment_methods, "
            "payment_method_types.",
            param="automatic_payment_methods",
        )
    if types is not None:
        return {"automatic_payment_methods": None, "payment_method_types": types}
    # Without either, current API versions enable automatic payment methods.
    enabled = automatic.flag("enabled") if automatic is not None else True
    redirects = automatic.text("allow_redirects", ("always", "never")) if automatic else None
    return {
        "automatic_payment_methods": {"allow_redirects": redirects or "always", "enabled": enabled}
        if enabled
        else None,
        "payment_method_types": ["card"],
    }


def _connect_fields(store: Store, p: Params, amount: int) -> Obj:
    """transfer_data[destination] (a destination charge), application_fee_amount, on_behalf_of."""
    transfer = p.nested("transfer_data", ("destination",))
    destination = transfer.required_text("destination") if transfer else None
    if destination is not None:
        account = store.find(destination, "account", param="transfer_data[destination]")
        if not account["charges_enabled"]:
            raise invalid(
                "Your destination account needs to have at least one of the following "
                "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                param="transfer_data[destination]",
                code="insufficient_capabilities_for_transfer",
            )
    on_behalf_of = p.text("on_behalf_of")
    if on_behalf_of is not None:
        store.find(on_behalf_of, "account", param="on_behalf_of")
    fee = p.integer("application_fee_amount", minimum=0)
    if fee is not None and destination is None:
        raise invalid(
            "Can only apply an application_fee_amount when the PaymentIntent is attempting a "
            "direct payment (using an OAuth key or Stripe-Account header) or destination "
            "payment (using `transfer_data[destination]`).",
            param="application_fee_amount",
        )
    if fee is not None and fee > amount:
        raise _fee_too_large()
    return {
        "application_fee_amount": fee,
        "on_behalf_of": on_behalf_of,
        "transfer_data": {"destination": destination} if destination else None,
    }


def _fee_too_large() -> StripeError:
    return invalid(
        "The application fee amount can't be greater than the PaymentIntent amount.",
        param="application_fee_amount",
    )


def _off_session(p: Params) -> bool:
    return p.text("off_session", ("true", "false", "one_off", "recurring")) not in (None, "false")


def _check_client_secret(pi: Obj, p: Params) -> None:
    if p.text("client_secret") != pi["client_secret"]:
        raise invalid(
            "The client_secret provided does not match the client_secret associated with the "
            "PaymentIntent.",
            param="client_secret",
        )
