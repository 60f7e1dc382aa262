"""Charges and the money they move, and the PaymentMethods test tokens turn into.

When a charge is captured the platform's ledger gets a `charge` balance transaction (amount,
Stripe's fee per money.py, net). A destination charge (transfer_data[destination]) then
transfers the whole amount to the connected account (`transfer` on the platform, `payment` on
the account, whose fee is the application fee) and takes the application fee back
(`application_fee` on the platform), as Stripe does with application_fee_amount.
"""

from __future__ import annotations

from devservers.stripe_fake import money
from devservers.stripe_fake.cards import TEST_CARDS, Card
from devservers.stripe_fake.store import PLATFORM, Obj, Store, new_id


def card_of(pm: Obj) -> Card:
    return TEST_CARDS[pm["_card"]]


def new_payment_method(store: Store, token: str, card: Card) -> Obj:
    return store.add(
        "pm",
        "payment_method",
        {
            "allow_redisplay": "unspecified",
            "billing_details": {"address": None, "email": None, "name": None, "phone": None},
            "card": {
                "brand": card.brand,
                "country": "US",
                "display_brand": card.brand,
                "exp_month": 12,
                "exp_year": 2034,
                "fingerprint": card.fingerprint,
                "funding": card.funding,
                "last4": card.last4,
                "networks": {"available": [card.brand], "preferred": None},
                "three_d_secure_usage": {"supported": True},
                "wallet": None,
            },
            "customer": None,
            "metadata": {},
            "type": "card",
            "_card": token,
            "_consumed": False,  # used by a payment without being saved: single use
            "_saved_off_session": False,
        },
    )


def new_charge(
    store: Store,
    pi: Obj,
    pm: Obj,
    *,
    authenticated: bool = False,
    failure: tuple[str, str, str] | None = None,
) -> Obj:
    card = card_of(pm)
    three_d_secure = (
        {"authentication_flow": "challenge", "result": "authenticated", "version": "2.2.0"}
        if authenticated
        else None
    )
    details = {k: v for k, v in pm["card"].items() if k not in ("networks", "three_d_secure_usage")}
    return store.add(
        "ch",
        "charge",
        {
            "amount": pi["amount"],
            "amount_captured": 0,
            "amount_refunded": 0,
            "application": None,
            "application_fee": None,
            "application_fee_amount": pi["application_fee_amount"],
            "balance_transaction": None,
            "billing_details": pm["billing_details"],
            "captured": False,
            "currency": pi["currency"],
            "customer": pi["customer"],
            "description": pi["description"],
            "disputed": False,
            "failure_balance_transaction": None,
            "failure_code": failure[0] if failure else None,
            "failure_message": failure[2] if failure else None,
            "metadata": dict(pi["metadata"]),
            "on_behalf_of": pi["on_behalf_of"],
            "outcome": _outcome(card, failure[1] if failure else None),
            "paid": failure is None,
            "payment_intent": pi["id"],
            "payment_method": pm["id"],
            "payment_method_details": {
                "card": details | {"network": card.brand, "three_d_secure": three_d_secure},
                "type": "card",
            },
            "receipt_email": pi["receipt_email"],
            "refunded": False,
            "status": "failed" if failure else "succeeded",
            "transfer": None,
            "transfer_data": pi["transfer_data"],
            "transfer_group": pi["transfer_group"],
        },
    )


def _outcome(card: Card, decline_code: str | None) -> Obj:
    outcome: Obj = {
        "network_status": "approved_by_network",
        "reason": None,
        "risk_level": card.risk_level,
        "risk_score": card.risk_score,
        "seller_message": "Payment complete.",
        "type": "authorized",
    }
    if decline_code == "fraudulent":  # Radar blocks it before it reaches the card network
        return outcome | {
            "network_status": "not_sent_to_network",
            "reason": "highest_risk_level",
            "seller_message": "Stripe blocked this payment as too risky.",
            "type": "blocked",
        }
    if decline_code is not None:
        return outcome | {
            "network_status": "declined_by_network",
            "reason": decline_code,
            "seller_message": "The bank did not return any further details with this decline.",
            "type": "issuer_declined",
        }
    return outcome


def capture(store: Store, pi: Obj, charge: Obj, amount: int) -> None:
    # Stripe counts the uncaptured remainder of a partial capture as refunded (released).
    charge |= {
        "captured": True,
        "amount_captured": amount,
        "amount_refunded": charge["amount"] - amount,
        "application_fee_amount": pi["application_fee_amount"],
    }
    pi |= {"status": "succeeded", "amount_received": amount, "amount_capturable": 0}
    _settle(store, charge)


def _settle(store: Store, charge: Obj) -> None:
    """The money moves: the charge (less Stripe's fee) to the platform; for a destination
    charge, all of it on to the connected account, the application fee back to the platform."""
    amount, currency, charge_id = charge["amount_captured"], charge["currency"], charge["id"]
    fee = money.processing_fee(amount, currency)
    charge["balance_transaction"] = store.ledger(
        PLATFORM, "charge", amount, currency, charge_id, fee
    )["id"]
    destination = (charge["transfer_data"] or {}).get("destination")
    if destination is None:
        return
    payment = new_id("py")  # the charge as the connected account sees it
    transfer = store.add(
        "tr",
        "transfer",
        {
            "amount": amount,
            "amount_reversed": 0,
            "currency": currency,
            "destination": destination,
            "destination_payment": payment,
            "metadata": {},
            "reversed": False,
            "source_transaction": charge_id,
            "transfer_group": None,
        },
    )
    ledger = store.ledger(PLATFORM, "transfer", -amount, currency, transfer["id"])
    transfer["balance_transaction"] = ledger["id"]
    charge["transfer"] = transfer["id"]
    application_fee = charge["application_fee_amount"] or 0
    store.ledger(
        destination, "payment", amount, currency, payment, application_fee, "application_fee"
    )
    store.emit("transfer.created", transfer)
    if application_fee:
        fee_object = store.add(
            "fee",
            "application_fee",
            {
                "account": destination,
                "amount": application_fee,
                "amount_refunded": 0,
                "charge": charge_id,
                "currency": currency,
                "refunded": False,
            },
        )
        fee_ledger = store.ledger(
            PLATFORM, "application_fee", application_fee, currency, fee_object["id"]
        )
        fee_object["balance_transaction"] = fee_ledger["id"]
        charge["application_fee"] = fee_object["id"]
        store.emit("application_fee.created", fee_object)
