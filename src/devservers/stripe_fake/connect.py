"""Connect: connected accounts, their onboarding, balances and payouts.

A new account can take no charges until its owner finishes onboarding: the account link's URL
(`/_connect/onboard/<acct>`) stands for Stripe's hosted pages and completes it in one visit,
emitting `account.updated` as a Connect event. Balances are the sums of an account's balance
transactions per currency; the fake settles at once, so all of it is available, none pending.
"""

from __future__ import annotations

from collections import defaultdict

from devservers.stripe_fake import money
from devservers.stripe_fake.call import Call
from devservers.stripe_fake.errors import invalid
from devservers.stripe_fake.store import Obj, Store, changes, now, public

_CREATE = (
    "type", "country", "email", "capabilities", "business_type", "business_profile",
    "metadata", "default_currency",
)  # fmt: skip
_PROFILE = ("mcc", "name", "url", "product_description", "support_email", "support_phone")
_CURRENCIES = {"US": "usd", "GB": "gbp", "CA": "cad", "AU": "aud", "JP": "jpy", "CH": "chf"}
_DUE = ["business_profile.url", "external_account", "tos_acceptance.date", "tos_acceptance.ip"]
_LINK_SECONDS = 300


def create_account(store: Store, call: Call) -> Obj:
    p = call.params
    p.allow(_CREATE)
    country = (p.text("country") or "US").upper()
    default = money.currency_code(p.text("default_currency") or _CURRENCIES.get(country, "eur"))
    capabilities = p.nested("capabilities", ("card_payments", "transfers"))
    requested = [
        name
        for name in ("card_payments", "transfers")
        if capabilities is not None
        and (wanted := capabilities.nested(name, ("requested",))) is not None
        and wanted.flag("requested")
    ]
    profile = p.nested("business_profile", _PROFILE)
    return store.add(
        "acct",
        "account",
        {
            "business_profile": {key: profile.text(key) if profile else None for key in _PROFILE},
            "business_type": p.text(
                "business_type", ("individual", "company", "non_profit", "government_entity")
            ),
            "capabilities": dict.fromkeys(requested, "inactive"),
            "charges_enabled": False,
            "country": country,
            "default_currency": default,
            "details_submitted": False,
            "email": p.text("email"),
            "metadata": p.metadata(),
            "payouts_enabled": False,
            "requirements": _requirements(_DUE),
            "type": p.required_text("type", ("express", "standard", "custom")),
            "_return_url": None,
        },
    )


def create_account_link(store: Store, call: Call) -> Obj:
    p = call.params
    p.allow(("account", "refresh_url", "return_url", "type", "collect"))
    account = store.find(p.required_text("account"), "account", param="account")
    p.required_text("type", ("account_onboarding", "account_update"))
    p.required_text("refresh_url")
    account["_return_url"] = p.required_text("return_url")  # where onboarding sends them back
    created = now()
    return {
        "object": "account_link",
        "created": created,
        "expires_at": created + _LINK_SECONDS,
        "url": f"{call.base_url}/_connect/onboard/{account['id']}",
    }


def complete_onboarding(store: Store, account_id: str) -> Obj:
    """What finishing Stripe's hosted onboarding does; a second visit changes nothing."""
    account = store.find(account_id, "account")
    before = public(account)
    account |= {
        "capabilities": dict.fromkeys(account["capabilities"] or ("transfers",), "active"),
        "charges_enabled": True,
        "details_submitted": True,
        "payouts_enabled": True,
        "requirements": _requirements([]),
    }
    previous = changes(before, public(account))
    if previous:
        store.emit("account.updated", account, previous=previous, account=account_id)
    return account


def balance(store: Store, call: Call) -> Obj:
    call.params.allow(())
    totals = _available(store, call.account)
    if not totals:  # Stripe lists the default currency even when nothing happened yet
        account = store.objects.get(call.account)
        totals = {account["default_currency"] if account else "usd": 0}
    return {
        "object": "balance",
        "available": [_funds(amount, currency) for currency, amount in totals.items()],
        "livemode": False,
        "pending": [_funds(0, currency) for currency in totals],
    }


def create_payout(store: Store, account_id: str, amount: int, currency: str) -> Obj:
    """A payout of available funds to the account's bank, paid at once (`/_test/payouts`)."""
    store.find(account_id, "account", param="account")
    currency = money.currency_code(currency)
    if amount < 1:
        raise invalid("Payout amounts must be positive.", param="amount")
    available = _available(store, account_id).get(currency, 0)
    if amount > available:
        raise invalid(
            f"You have insufficient funds in your Stripe account for this transfer: "
            f"{money.display(available, currency)} available.",
            param="amount",
            code="balance_insufficient",
        )
    created = now()
    payout = store.add(
        "po",
        "payout",
        {
            "amount": amount,
            "arrival_date": created - created % 86400,
            "automatic": True,
            "currency": currency,
            "description": "STRIPE PAYOUT",
            "destination": "ba_fake",
            "failure_code": None,
            "failure_message": None,
            "metadata": {},
            "method": "standard",
            "source_type": "card",
            "statement_descriptor": None,
            "status": "paid",
            "type": "bank_account",
        },
        account_id,
    )
    payout["balance_transaction"] = store.ledger(
        account_id, "payout", -amount, currency, payout["id"]
    )["id"]
    store.emit("payout.created", payout)
    store.emit("payout.paid", payout)
    return payout


def _available(store: Store, account: str) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for obj in store.objects.values():
        if obj["object"] == "balance_transaction" and obj["_account"] == account:
            totals[obj["currency"]] += obj["net"]
    return dict(totals)


def _funds(amount: int, currency: str) -> Obj:
    return {"amount": amount, "currency": currency, "source_types": {"card": amount}}


def _requirements(due: list[str]) -> Obj:
    return {
        "currently_due": due,
        "disabled_reason": "requirements.past_due" if due else None,
        "errors": [],
        "eventually_due": due,
        "past_due": due,
        "pending_verification": [],
    }
