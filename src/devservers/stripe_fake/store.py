"""The fake's memory: every object by id (creation order), events, and balance ledgers.

Objects are plain JSON-ready dicts, as the API shows them; keys starting with "_" are the
fake's own bookkeeping (the owning account, the test card behind a PaymentMethod...) and are
never shown. Everything runs on the server's one event loop thread, so nothing is locked.
"""

from __future__ import annotations

import copy
import operator
import random
import string
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devservers.stripe_fake.errors import invalid, no_such
from devservers.stripe_fake.forms import Params

Obj = dict[str, Any]
PLATFORM = ""  # the `_account` of the platform's own objects; connected ones carry acct_...
# The version the pinned stripe SDK (16.x) sends; events are rendered as of this version.
API_VERSION = "2026-10-28.endive"
_ALPHABET = string.ascii_letters + string.digits
CATEGORIES = {
    "charge": "charge",
    "payment": "charge",
    "refund": "refund",
    "payment_refund": "refund",
    "refund_failure": "refund_failure",
    "transfer": "transfer",
    "transfer_reversal": "transfer_reversal",
    "application_fee": "platform_earning",
    "application_fee_refund": "platform_earning_refund",
    "payout": "payout",
}
_BOUNDS = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}
_PLURALS = {
    "payment_intent": "payment_intents",
    "payment_method": "payment_methods",
    "charge": "charges",
    "refund": "refunds",
    "customer": "customers",
    "account": "accounts",
    "payout": "payouts",
    "transfer": "transfers",
    "event": "events",
    "balance_transaction": "balance_transactions",
}


def new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_{''.join(random.choices(_ALPHABET, k=length))}"


def now() -> int:
    return int(time.time())


def public(obj: Obj) -> Obj:
    """What the API shows: a deep copy without the bookkeeping, `id` and `object` first."""
    shown = {key: copy.deepcopy(value) for key, value in obj.items() if not key.startswith("_")}
    head = {key: shown.pop(key) for key in ("id", "object") if key in shown}
    return head | dict(sorted(shown.items()))


def changes(before: Obj, after: Obj) -> Obj:
    """Stripe's `previous_attributes`: the old value of every top-level field that changed."""
    return {key: value for key, value in before.items() if after.get(key) != value}


@dataclass(frozen=True)
class RequestInfo:
    id: str
    idempotency_key: str | None


class Store:
    def __init__(
        self,
        on_event: Callable[[Obj], None],
        later: Callable[[float, Callable[[], None]], object],
        refund_failure_delay: float,
    ) -> None:
        self.objects: dict[str, Obj] = {}
        self.on_event = on_event  # hands each new event to webhook delivery
        self.later = later  # runs a callback on the server's loop after a delay
        self.refund_failure_delay = refund_failure_delay
        self.request: RequestInfo | None = None  # the API request running now, for events

    def reset(self) -> None:
        self.objects.clear()

    def add(self, prefix: str, kind: str, fields: Obj, account: str = PLATFORM) -> Obj:
        obj: Obj = {"id": new_id(prefix), "object": kind, "created": now(), "livemode": False}
        obj |= fields
        obj["_account"] = account
        self.objects[obj["id"]] = obj
        return obj

    def find(
        self, object_id: str, kind: str, *, param: str | None = None, account: str = PLATFORM
    ) -> Obj:
        """The object, if it exists and `account` may see it; else Stripe's resource_missing."""
        obj = self.objects.get(object_id)
        if obj is None or obj["object"] != kind or obj["_account"] != account:
            raise no_such(kind, object_id, param)
        return obj

    def emit(
        self, type: str, obj: Obj, *, previous: Obj | None = None, account: str | None = None
    ) -> Obj:
        """Record an event with a snapshot of `obj` as it is now, and hand it to delivery."""
        account = obj["_account"] if account is None else account
        data: Obj = {"object": public(obj)}
        if previous:
            data["previous_attributes"] = previous
        request = self.request
        fields: Obj = {
            "api_version": API_VERSION,
            "data": data,
            "pending_webhooks": 0,
            "request": {
                "id": request.id if request else None,
                "idempotency_key": request.idempotency_key if request else None,
            },
            "type": type,
        }
        if account:
            fields["account"] = account  # a Connect event: it happened on that account
        event = self.add("evt", "event", fields, account)
        self.on_event(event)
        return event

    def ledger(
        self,
        account: str,
        type: str,
        amount: int,
        currency: str,
        source: str,
        fee: int = 0,
        fee_type: str = "stripe_fee",
    ) -> Obj:
        """A balance transaction; the fake settles at once, so it is available immediately."""
        details = {"stripe_fee": "Stripe processing fees", "application_fee": "Application fee"}
        fee_details = [
            {
                "amount": fee,
                "application": None,
                "currency": currency,
                "description": details[fee_type],
                "type": fee_type,
            }
        ]
        created = now()
        fields: Obj = {
            "amount": amount,
            "available_on": created,
            "currency": currency,
            "description": None,
            "exchange_rate": None,
            "fee": fee,
            "fee_details": fee_details if fee else [],
            "net": amount - fee,
            "reporting_category": CATEGORIES[type],
            "source": source,
            "status": "available",
            "type": type,
        }
        return self.add("txn", "balance_transaction", fields, account)

    def expand(self, shown: Obj, paths: list[str]) -> Obj:
        """Replace ids named by `expand[]` paths (`latest_charge.balance_transaction`,
        `data.source` on lists) with the objects."""
        for path in paths:
            self._expand(shown, path.split("."), path)
        return shown

    def _expand(self, node: Obj, parts: list[str], path: str) -> None:
        head, rest = parts[0], parts[1:]
        if node.get("object") == "list" and head == "data":
            for item in node["data"] if rest else ():
                self._expand(item, rest, path)
            return
        target = node.get(head)
        if isinstance(target, str) and target in self.objects:
            node[head] = target = public(self.objects[target])
        elif head not in node or (target is not None and not isinstance(target, dict)):
            raise invalid(f"This property cannot be expanded ({path}).", param="expand")
        if rest and isinstance(target, dict):
            self._expand(target, rest, path)

    def page(
        self,
        kind: str,
        params: Params,
        url: str,
        account: str,
        where: Callable[[Obj], bool] = lambda _: True,
    ) -> Obj:
        """A Stripe list object, newest first, with `created`, `limit`, `starting_after` and
        `ending_before` as Stripe reads them."""
        items = [
            obj
            for obj in reversed(self.objects.values())
            if obj["object"] == kind and obj["_account"] == account and where(obj)
        ]
        items = [obj for obj in items if _created_matches(obj["created"], params)]
        limit = params.integer("limit", minimum=1) or 10
        if limit > 100:
            raise invalid("This value must be less than or equal to 100.", param="limit")
        ids = [obj["id"] for obj in items]
        after, before = params.text("starting_after"), params.text("ending_before")
        for cursor, param in ((after, "starting_after"), (before, "ending_before")):
            if cursor is not None and cursor not in ids:
                raise no_such(kind, cursor, param)
        if after is not None:
            items = items[ids.index(after) + 1 :]
        if before is not None:
            items = items[: ids.index(before)][-limit:]
        data = [public(obj) for obj in items[:limit]]
        return {"object": "list", "data": data, "has_more": len(items) > limit, "url": url}

    def stats(self) -> Obj:
        counts = Counter(
            _PLURALS.get(obj["object"], obj["object"]) for obj in self.objects.values()
        )
        charged: dict[str, Obj] = {}
        for obj in self.objects.values():
            if obj["object"] == "payment_intent":
                charged[obj["id"]] = {"currency": obj["currency"], "charged": 0, "refunded": 0}
        for obj in self.objects.values():
            totals = charged.get(obj.get("payment_intent") or "")
            if totals is None:
                continue
            if obj["object"] == "charge":
                totals["charged"] += obj["amount_captured"]
            elif obj["object"] == "refund" and obj["status"] in ("pending", "succeeded"):
                totals["refunded"] += obj["amount"]
        return {"counts": {plural: counts[plural] for plural in _PLURALS.values()}} | {
            "payment_intents": charged
        }


def _created_matches(created: int, params: Params) -> bool:
    raw = params.data.get("created")
    if raw is None or raw == "":
        return True
    if isinstance(raw, str):
        return created == params.integer("created")
    bounds = params.nested("created", tuple(_BOUNDS))
    assert bounds is not None
    return all(
        test(created, limit)
        for name, test in _BOUNDS.items()
        if (limit := bounds.integer(name)) is not None
    )
