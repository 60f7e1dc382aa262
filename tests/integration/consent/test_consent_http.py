"""The consent routes over HTTP on the memory store: public policies and cookie categories,
cookie choices before login merged after it, a person's own ledger, admins publishing; bad
input is a 4xx problem.

The app is small: the consent routes, bearer authentication, the edge's byte checks and the
problem rendering. The composition root registers the same routes (test_http_registration)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.testing import AsyncTestClient

from adapters.memory.consent import MemoryConsentDatabase
from adapters.system.clock import SystemClock
from core.consent import (
    CheckConsent,
    GetPolicy,
    GrantConsent,
    ListCookieCategories,
    ListMyConsents,
    MergeAnonymousConsents,
    PublishPolicy,
    RecordCookieChoices,
    WithdrawConsent,
)
from core.shared.ids import UserId
from core.shared.principal import Principal, Role
from entrypoints.http.auth import BearerAuthentication, current_principal
from entrypoints.http.controllers import consent
from entrypoints.http.dependencies import provide
from entrypoints.http.edge import refuse_bad_bytes
from entrypoints.http.problems import EXCEPTION_HANDLERS

ANA, ADMIN = "ana-token", "admin-token"
PRINCIPALS = {
    ANA: Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.CUSTOMER})),
    ADMIN: Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.ADMIN}), mfa=True),
}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def client() -> AsyncIterator[AsyncTestClient[Litestar]]:
    ports: dict[str, Any] = {"uow": MemoryConsentDatabase(), "clock": SystemClock()}
    use_cases: dict[str, Any] = {
        "get_policy": GetPolicy(**ports),
        "publish_policy": PublishPolicy(**ports),
        "grant_consent": GrantConsent(**ports),
        "withdraw_consent": WithdrawConsent(**ports),
        "list_my_consents": ListMyConsents(**ports),
        "check_consent": CheckConsent(**ports),
        "list_cookie_categories": ListCookieCategories(),
        "record_cookie_choices": RecordCookieChoices(**ports),
        "merge_anonymous_consents": MergeAnonymousConsents(**ports),
    }

    async def authenticate(token: str) -> Principal | None:
        return PRINCIPALS.get(token)

    app = Litestar(
        route_handlers=consent.ROUTES,
        dependencies={
            **{name: provide(_constant(u)) for name, u in use_cases.items()},
            "principal": Provide(current_principal),
        },
        middleware=[DefineMiddleware(BearerAuthentication, authenticator=lambda: authenticate)],
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=refuse_bad_bytes,
    )
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


def _constant(value: Any) -> Any:
    return lambda: value


async def _publish(client: AsyncTestClient[Litestar], kind: str, fresh: bool = False) -> Any:
    response = await client.post(
        "/admin/privacy/policies",
        json={"kind": kind, "text": f"# {kind}\n\nWhat we do.", "requires_fresh_consent": fresh},
        headers=_bearer(ADMIN),
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_policies_are_public_and_published_by_admins(
    client: AsyncTestClient[Litestar],
) -> None:
    missing = await client.get("/privacy/policies/privacy")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    first = await _publish(client, "privacy")
    await _publish(client, "privacy", fresh=True)
    current = (await client.get("/privacy/policies/privacy")).json()
    assert (current["version"], current["requires_fresh_consent"]) == (2, True)
    assert (await client.get("/privacy/policies/privacy/1")).json() == first
    assert (await client.get("/privacy/policies/nonsense")).status_code == 404
    refused = await client.post(
        "/admin/privacy/policies", json={"kind": "privacy", "text": "x"}, headers=_bearer(ANA)
    )
    assert refused.status_code == 403
    anonymous = await client.post("/admin/privacy/policies", json={"kind": "privacy", "text": "x"})
    assert anonymous.status_code == 401


async def test_grant_withdraw_and_list_my_consents(client: AsyncTestClient[Litestar]) -> None:
    await _publish(client, "privacy")
    body = {"purpose": "marketing", "channel": "email", "decision": "granted"}
    granted = await client.post("/me/consents", json=body, headers=_bearer(ANA))
    assert granted.status_code == 201, granted.text
    assert granted.json()["policy_version"] == 1
    body["decision"] = "withdrawn"
    assert (await client.post("/me/consents", json=body, headers=_bearer(ANA))).status_code == 201
    mine = (await client.get("/me/consents", headers=_bearer(ANA))).json()
    assert [e["decision"] for e in mine["history"]] == ["granted", "withdrawn"]
    assert [(s["purpose"], s["granted"]) for s in mine["current"]] == [("marketing", False)]
    transactional = {"purpose": "transactional", "channel": "email", "decision": "withdrawn"}
    refused = await client.post("/me/consents", json=transactional, headers=_bearer(ANA))
    assert refused.status_code == 409
    assert refused.json()["type"] == "urn:reserva:problem:consent-not-withdrawable"
    assert (await client.get("/me/consents")).status_code == 401


async def test_cookie_choices_before_login_merge_after(client: AsyncTestClient[Litestar]) -> None:
    categories = (await client.get("/cookies/categories")).json()
    assert [c["category"] for c in categories] == [
        "necessary",
        "preferences",
        "analytics",
        "marketing",
    ]
    await _publish(client, "cookies")
    chosen = await client.post("/cookies/choices", json={"choices": {"analytics": True}})
    assert chosen.status_code == 200, chosen.text
    browser = chosen.json()["anonymous_id"]
    assert chosen.json()["granted"]["analytics"] is True
    again = await client.post(
        "/cookies/choices", json={"anonymous_id": browser, "choices": {"marketing": False}}
    )
    assert again.json()["anonymous_id"] == browser
    merged = await client.post(
        "/me/consents/merge", json={"anonymous_id": browser}, headers=_bearer(ANA)
    )
    assert merged.status_code == 200, merged.text
    assert {e["purpose"] for e in merged.json()["merged"]} == {"analytics", "marketing"}
    twice = await client.post(
        "/me/consents/merge", json={"anonymous_id": browser}, headers=_bearer(ANA)
    )
    assert twice.json()["merged"] == []


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b'{"choices": {"analytics": true}, "anonymous_id": "anon_\\u0000"}', {}, 400),
        (
            b'{"choices": {"analytics": true}, "anonymous_id": "anon_\\u202e' + b"a" * 31 + b'"}',
            {},
            422,
        ),
        (b'{"choices": {"analytics": true}, "anonymous_id": "\xff\xfe"}', {}, 400),
        (b'{"choices": {"analytics": true}}', {"content-type": "text/plain"}, 415),
        (b'{"choices": {"necessary": false}}', {}, 422),
        (b'{"choices": {"tracking": true}}', {}, 422),
        (b'{"choices": {}, "extra": 1}', {}, 422),
    ],
)
async def test_bad_input_is_a_problem(
    client: AsyncTestClient[Litestar], content: bytes, headers: dict[str, str], status: int
) -> None:
    await _publish(client, "cookies")
    response = await client.post(
        "/cookies/choices",
        content=content,
        headers={"content-type": "application/json", **headers},
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_policy_text_with_control_characters_is_refused(
    client: AsyncTestClient[Litestar],
) -> None:
    for text in ("a\u202eb", "a\u0007b"):
        response = await client.post(
            "/admin/privacy/policies",
            json={"kind": "cookies", "text": text},
            headers=_bearer(ADMIN),
        )
        assert response.status_code == 422, response.text
