"""Refunds: never more than what is left on the charge; pm_card_refundFail's fail later.

A refund is counted against the charge (`amount_refunded`) from the moment it is created,
pending or not, so two refunds racing for the same money cannot both pass. A failing refund
stays pending for the server's refund-failure delay (or until `POST /_test/refunds/settle`),
then fails with `expired_or_canceled_card` and gives its amount back to the charge.

Ledger (balance transactions), as on Stripe: `refund` (negative) when the refund is created,
`refund_failure` (positive) if it fails. For destination charges, `reverse_transfer` takes the
refunded share back from the connected account (`transfer_reversal` on the platform,
`payment_refund` on the account), and `refund_application_fee` returns the platform's
pro-rata share of the fee (`application_fee_refund` on both sides).
"""

from __future__ import annotations

from devservers.stripe_fake import money
from devservers.stripe_fake.call import Call
from devservers.stripe_fake.charges import card_of
from devservers.stripe_fake.errors import invalid, unexpected_state
from devservers.stripe_fake.store import PLATFORM, Obj, Store, changes, public

_CREATE = (
    "payment_intent", "charge", "amount", "reason", "metadata", "reverse_transfer",
    "refund_application_fee",
)  # fmt: skip
_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def create_refund(store: Store, call: Call) -> Obj:
    p = call.params
    p.allow(_CREATE)
    charge = _refundable_charge(store, p.text("payment_intent"), p.text("charge"))
    left = charge["amount"] - charge["amount_refunded"]
    if left <= 0:
        raise invalid(
            f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
        )
    amount = p.integer("amount", minimum=1) or left
    if amount > left:
        currency = charge["currency"]
        raise invalid(
            f"Refund amount ({money.display(amount, currency)}) is greater than unrefunded "
            f"amount on charge ({money.display(left, currency)})",
            param="amount",
            code="amount_too_large",
        )
    reverse, refund_fee = p.flag("reverse_transfer"), p.flag("refund_application_fee")
    for wanted, field, param in (
        (reverse, "transfer", "reverse_transfer"),
        (refund_fee, "application_fee", "refund_application_fee"),
    ):
        if wanted and charge[field] is None:
            raise invalid(f"Charge {charge['id']} has no {field} to refund.", param=param)
    fails = card_of(store.objects[charge["payment_method"]]).refund_fails
    refund = store.add(
        "re",
        "refund",
        {
            "amount": amount,
            "balance_transaction": None,
            "charge": charge["id"],
            "currency": charge["currency"],
            "destination_details": {"card": {"type": "refund"}, "type": "card"},
            "failure_balance_transaction": None,
            "failure_reason": None,
            "metadata": p.metadata(),
            "payment_intent": charge["payment_intent"],
            "reason": p.text("reason", _REASONS),
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "pending" if fails else "succeeded",
            "transfer_reversal": None,
        },
    )
    before = public(charge)
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount"]
    refund["balance_transaction"] = store.ledger(
        PLATFORM, "refund", -amount, refund["currency"], refund["id"]
    )["id"]
    if reverse:
        _reverse_transfer(store, charge, refund)
    if refund_fee:
        _refund_application_fee(store, charge, amount)
    store.emit("refund.created", refund)
    store.emit("charge.refunded", charge, previous=changes(before, public(charge)))
    if fails:
        store.later(store.refund_failure_delay, lambda: fail_refund(store, refund["id"]))
    return refund


def settle_pending(store: Store) -> list[str]:
    """Fail every pending refund now (they only pend when they are going to fail)."""
    pending = [
        obj["id"]
        for obj in store.objects.values()
        if obj["object"] == "refund" and obj["status"] == "pending"
    ]
    for refund_id in pending:
        fail_refund(store, refund_id)
    return pending


def fail_refund(store: Store, refund_id: str) -> None:
    refund = store.objects.get(refund_id)
    if refund is None or refund["status"] != "pending":  # settled already, or reset since
        return
    charge = store.objects[refund["charge"]]
    before, charge_before = public(refund), public(charge)
    txn = store.ledger(PLATFORM, "refund_failure", refund["amount"], refund["currency"], refund_id)
    refund |= {
        "status": "failed",
        "failure_reason": "expired_or_canceled_card",
        "failure_balance_transaction": txn["id"],
    }
    charge["amount_refunded"] -= refund["amount"]
    charge["refunded"] = False
    previous = changes(before, public(refund))
    store.emit("charge.refund.updated", refund, previous=previous)
    store.emit("refund.updated", refund, previous=previous)
    store.emit("refund.failed", refund, previous=previous)
    store.emit("charge.updated", charge, previous=changes(charge_before, public(charge)))


def _refundable_charge(store: Store, pi_id: str | None, charge_id: str | None) -> Obj:
    if pi_id is None and charge_id is None:
        raise invalid(
            "One of the following params should be provided for this request: payment_intent "
            "or charge.",
            code="parameter_missing",
        )
    if pi_id is not None:
        pi = store.find(pi_id, "payment_intent", param="payment_intent")
        if pi["status"] != "succeeded":
            raise unexpected_state(
                f"This PaymentIntent ({pi_id}) does not have a successful charge to refund."
            )
        if charge_id is not None and charge_id != pi["latest_charge"]:
            raise invalid(f"Charge {charge_id} does not belong to {pi_id}.", param="charge")
        charge_id = pi["latest_charge"]
    assert charge_id is not None
    charge = store.find(charge_id, "charge", param="charge")
    if charge["status"] != "succeeded" or not charge["captured"]:
        raise invalid(
            f"Charge {charge_id} has not been captured or did not succeed; it cannot be refunded.",
            param="charge",
            code="charge_not_refundable",
        )
    return charge


def _reverse_transfer(store: Store, charge: Obj, refund: Obj) -> None:
    transfer = store.objects[charge["transfer"]]
    amount = min(
        money.share(refund["amount"], transfer["amount"], charge["amount"]),
        transfer["amount"] - transfer["amount_reversed"],
    )
    currency = refund["currency"]
    reversal = store.add(
        "trr",
        "transfer_reversal",
        {"amount": amount, "currency": currency, "metadata": {}, "transfer": transfer["id"]},
    )
    reversal["balance_transaction"] = store.ledger(
        PLATFORM, "transfer_reversal", amount, currency, reversal["id"]
    )["id"]
    store.ledger(transfer["destination"], "payment_refund", -amount, currency, refund["id"])
    transfer["amount_reversed"] += amount
    transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
    refund["transfer_reversal"] = reversal["id"]


def _refund_application_fee(store: Store, charge: Obj, amount: int) -> None:
    fee = store.objects[charge["application_fee"]]
    back = min(
        money.share(amount, fee["amount"], charge["amount"]),
        fee["amount"] - fee["amount_refunded"],
    )
    fee_refund = store.add(
        "fr", "fee_refund", {"amount": back, "currency": fee["currency"], "fee": fee["id"]}
    )
    store.ledger(PLATFORM, "application_fee_refund", -back, fee["currency"], fee_refund["id"])
    store.ledger(fee["account"], "application_fee_refund", back, fee["currency"], fee_refund["id"])
    fee["amount_refunded"] += back
    fee["refunded"] = fee["amount_refunded"] == fee["amount"]
