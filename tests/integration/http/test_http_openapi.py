"""The OpenAPI document stays whole as routes are added: every reference resolves, every
operation is unique, and the payments routes are described. No server: the app is only built."""

from __future__ import annotations

from typing import Any

from entrypoints.container import Container, http_services
from entrypoints.http.app import create_app

PAYMENT_ROUTES = {
    ("post", "/bookings/{booking_id}/payment"),
    ("get", "/bookings/{booking_id}/payment"),
    ("get", "/me/payments"),
    ("get", "/offerings/{offering_id}/terms"),
    ("put", "/offerings/{offering_id}/terms"),
    ("post", "/providers/{provider_id}/payments/onboarding"),
    ("get", "/providers/{provider_id}/balance"),
    ("get", "/admin/payments/review"),
    ("post", "/admin/payments/{payment_id}/review"),
    ("post", "/admin/payments/{payment_id}/refunds"),
    ("get", "/admin/refunds"),
    ("post", "/admin/refunds/{refund_id}/retry"),
    ("post", "/admin/refunds/{refund_id}/resolve"),
    ("get", "/admin/ledger/balances"),
    ("get", "/admin/ledger"),
    ("get", "/admin/reconciliation"),
    ("post", "/webhooks/stripe"),
}


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_the_document_is_whole_and_describes_payments() -> None:
    document = create_app(http_services(Container())).openapi_schema.to_schema()
    schemas = document["components"]["schemas"]
    operations = {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    }
    ids = [op["operationId"] for op in operations.values()]

    assert document["openapi"].startswith("3.1")
    assert operations.keys() >= PAYMENT_ROUTES
    assert len(ids) == len(set(ids))
    for ref in _refs(document):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    paid = operations[("post", "/bookings/{booking_id}/payment")]["responses"]
    assert {"200", "201", "409"} <= paid.keys()  # created, returned, not payable
    assert "security" not in operations[("post", "/webhooks/stripe")]
    assert "security" not in operations[("get", "/offerings/{offering_id}/terms")]
