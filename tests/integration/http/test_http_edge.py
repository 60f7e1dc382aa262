"""The edge of the API: security headers, caching, CORS, compression, and bytes no handler
should see (NUL, invalid UTF-8, non-JSON bodies, cursors we never issued)."""

from __future__ import annotations

import gzip
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import attrs
import httpx
import pytest
import pytest_asyncio
from http_support import Client, TokenTable, appointment, open_shop
from litestar.testing import AsyncTestClient

from entrypoints.container import Container, http_services
from entrypoints.http.app import create_app

SOMEONE = "0b9d5a2e-6c1f-4e8a-9b7d-3f2e1a0c4d5b"  # a fixed id: test ids must not vary per run
NUL = "a\x00b"
PROBLEM = "application/problem+json"
HELMET = {
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}


def assert_hardened(response: httpx.Response) -> None:
    for name, value in HELMET.items():
        assert response.headers.get(name) == value, (name, response.request.url)
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


# ---------------------------------------------------------------- headers and caching


async def test_every_kind_of_response_carries_the_security_headers(
    client: Client, tokens: TokenTable
) -> None:
    public = await client.get("/providers")
    signed_in = await client.get("/bookings", headers=tokens.customer())
    problem = await client.get(f"/offerings/{SOMEONE}")
    unrouted = await client.get("/no/such/path")

    for response in (public, signed_in, problem, unrouted):
        assert_hardened(response)
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
        assert response.headers["cache-control"] == "no-store"
    assert problem.status_code == 404
    assert problem.headers["content-type"].startswith(PROBLEM)


async def test_the_docs_page_runs_its_own_scripts_only_and_is_not_framed(
    client: Client,
) -> None:
    """/docs (and /docs/swagger, where Swagger UI used to be) load Swagger UI from this origin:
    no CDN, no inline script, no eval (ADR 37)."""
    for path in ("/docs", "/docs/swagger"):
        page = await client.get(path)

        assert page.status_code == 200
        assert_hardened(page)
        policy = page.headers["content-security-policy"]
        assert "script-src 'self';" in policy
        assert "'unsafe-inline'" not in policy
        assert "https:" not in policy
        assert "<script>" not in page.text  # every script has a src on this origin
        assert "https://" not in page.text


async def test_the_docs_assets_come_from_the_package_and_may_be_cached(client: Client) -> None:
    page = (await client.get("/docs")).text
    sources = re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', page)
    answers = {source: await client.get(source) for source in sources}

    assert len(sources) == 4  # favicon, stylesheet, Swagger UI's bundle, the start script
    assert {answer.status_code for answer in answers.values()} == {200}
    bundle = next(a for s, a in answers.items() if s.endswith("swagger-ui-bundle.js"))
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert "max-age=604800" in bundle.headers["cache-control"]
    assert len(bundle.content) > 500_000


async def test_a_handler_that_allows_caching_keeps_its_own_policy(client: Client) -> None:
    jwks = await client.get("/.well-known/jwks.json")

    assert jwks.headers["cache-control"] == "max-age=60, public"


async def test_token_responses_are_never_stored(client: Client) -> None:
    email = f"edge-{uuid.uuid4().hex[:10]}@example.com"
    password = "a long and unlisted passphrase 7"
    await client.post("/auth/register", json={"email": email, "password": password})

    login = await client.post("/auth/login", json={"email": email, "password": password})
    refresh = await client.post(
        "/auth/refresh", json={"refresh_token": login.json()["refresh_token"]}
    )

    assert login.status_code == refresh.status_code == 200
    assert login.headers["cache-control"] == refresh.headers["cache-control"] == "no-store"


async def test_a_real_server_does_not_say_what_it_is(live: Client) -> None:
    response = await live.get("/providers")

    assert response.status_code == 200
    assert "server" not in response.headers
    assert_hardened(response)


# ---------------------------------------------------------------- CORS and compression


@pytest_asyncio.fixture
async def cors_client(container: Container) -> AsyncIterator[Client]:
    services = attrs.evolve(http_services(container), cors_origins=("https://app.example",))
    async with AsyncTestClient(app=create_app(services)) as client:
        yield client


async def test_cors_answers_the_listed_origin_only(cors_client: Client) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    allowed = await cors_client.options(
        "/bookings", headers={"Origin": "https://app.example"} | preflight
    )
    refused = await cors_client.options(
        "/bookings", headers={"Origin": "https://evil.example"} | preflight
    )
    simple = await cors_client.get("/providers", headers={"Origin": "https://app.example"})
    other = await cors_client.get("/providers", headers={"Origin": "https://evil.example"})

    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in refused.headers
    assert simple.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-origin" not in other.headers


async def test_no_cors_headers_unless_origins_are_configured(client: Client) -> None:
    response = await client.get("/providers", headers={"Origin": "https://app.example"})

    assert "access-control-allow-origin" not in response.headers


async def test_large_json_is_compressed_when_the_client_asks(
    client: Client, tokens: TokenTable
) -> None:
    shop = await open_shop(client, tokens)
    for _ in range(6):
        await appointment(client, shop)

    asked = await client.get(f"/providers/{shop.provider_id}", headers={"Accept-Encoding": "gzip"})
    plain = await client.get(
        f"/providers/{shop.provider_id}", headers={"Accept-Encoding": "identity"}
    )

    assert asked.headers["content-encoding"] == "gzip"
    assert asked.json() == plain.json()  # httpx inflates it
    assert len(plain.content) > 1024
    assert "content-encoding" not in plain.headers
    assert len(gzip.compress(plain.content)) < len(plain.content)


# Accept-Encoding -> the coding of the answer (RFC 9110: q=0 refuses; `*` accepts the rest).
ENCODINGS = {
    "br": "br",
    "gzip": "gzip",
    "gzip, deflate, br": "br",
    "gzip;q=1, br;q=0": "gzip",
    "br;q=0, *": "gzip",
    "*": "br",
}


async def test_large_json_comes_back_in_the_encoding_the_client_accepts(
    client: Client, tokens: TokenTable
) -> None:
    """Brotli when accepted (smaller than gzip for JSON), gzip otherwise (ADR 37)."""
    shop = await open_shop(client, tokens)
    for _ in range(6):
        await appointment(client, shop)
    path = f"/providers/{shop.provider_id}"

    plain = await client.get(path, headers={"Accept-Encoding": "identity"})
    answers = {
        accepted: await client.get(path, headers={"Accept-Encoding": accepted})
        for accepted in ENCODINGS
    }

    assert {a: answer.headers.get("content-encoding") for a, answer in answers.items()} == (
        ENCODINGS
    )
    for answer in answers.values():
        assert "accept-encoding" in answer.headers["vary"].lower()  # caches keep variants apart
        assert answer.json() == plain.json()  # httpx decodes br and gzip
        assert answer.num_bytes_downloaded < len(plain.content) / 3


async def test_small_answers_are_not_compressed(client: Client, tokens: TokenTable) -> None:
    shop = await open_shop(client, tokens)  # a provider with no offerings yet: a short answer

    small = await client.get(
        f"/providers/{shop.provider_id}", headers={"Accept-Encoding": "br, gzip"}
    )

    assert small.status_code == 200
    assert len(small.content) < 1024
    assert "content-encoding" not in small.headers


async def test_sign_in_and_personal_answers_are_never_compressed(
    client: Client, tokens: TokenTable
) -> None:
    """A secret beside attacker-chosen text in a compressed body is what BREACH reads: /auth/
    (tokens) and /me/ (personal data) answers stay uncompressed, whatever their size."""
    both = {"Accept-Encoding": "br, gzip"}
    email = f"breach-{uuid.uuid4().hex[:10]}@example.com"
    password = "a long and unlisted passphrase 8"
    await client.post("/auth/register", json={"email": email, "password": password})
    login = await client.post(
        "/auth/login", json={"email": email, "password": password}, headers=both
    )
    policy = {"kind": "privacy", "text": "# Privacy\n\nWhat we do."}
    await client.post("/admin/privacy/policies", json=policy, headers=tokens.admin())
    customer = tokens.customer()
    for decision in ("granted", "withdrawn") * 4:
        choice = {"purpose": "marketing", "channel": "email", "decision": decision}
        assert (await client.post("/me/consents", json=choice, headers=customer)).is_success

    mine = await client.get("/me/consents", headers=customer | both)

    assert login.status_code == mine.status_code == 200
    assert len(mine.content) > 1024, len(mine.content)  # large enough to be compressed
    assert "content-encoding" not in mine.headers
    assert "content-encoding" not in login.headers


# ---------------------------------------------------------------- bytes


@attrs.frozen(kw_only=True)
class Bad:
    id: str
    method: str
    path: str
    field: str
    json: Any = None
    params: dict[str, Any] | None = None


ADDRESS = {"line1": "1 Main St", "city": "Madrid", "postal_code": "28001", "country": "ES"}
PLACE = {"name": "P", "address": ADDRESS, "lat": 40.0, "lng": -3.0, "timezone": "UTC"}
OFFERING = {
    "kind": "appointment",
    "name": "Court",
    "category": "tennis",
    "price": {"amount_minor": 1000, "currency": "EUR"},
    "duration_minutes": 60,
    "resource_ids": [SOMEONE],
}
SEARCH = {"lat": 40.0, "lng": -3.0, "radius_m": 1000}
WINDOW = {"from": "2031-01-01T00:00:00Z", "to": "2031-01-02T00:00:00Z"}

NUL_CASES = [
    Bad(id="email at registration", method="POST", path="/auth/register",
        json={"email": f"x{NUL}@example.com", "password": "x" * 16}, field="email"),
    Bad(id="email at login", method="POST", path="/auth/login",
        json={"email": f"x{NUL}@example.com", "password": "x" * 16}, field="email"),
    Bad(id="password at login", method="POST", path="/auth/login",
        json={"email": "x@example.com", "password": NUL * 8}, field="password"),
    Bad(id="email of a reset", method="POST", path="/auth/password/reset-request",
        json={"email": f"x{NUL}@example.com"}, field="email"),
    Bad(id="provider name", method="POST", path="/providers", json={"name": NUL},
        field="name"),
    Bad(id="place name", method="POST", path=f"/providers/{SOMEONE}/places",
        json=PLACE | {"name": NUL}, field="name"),
    Bad(id="address line", method="POST", path=f"/providers/{SOMEONE}/places",
        json=PLACE | {"address": ADDRESS | {"line1": NUL}}, field="address.line1"),
    Bad(id="time zone", method="POST", path=f"/providers/{SOMEONE}/places",
        json=PLACE | {"timezone": NUL}, field="timezone"),
    Bad(id="resource name", method="POST", path=f"/places/{SOMEONE}/resources",
        json={"name": NUL}, field="name"),
    Bad(id="offering name", method="POST", path=f"/places/{SOMEONE}/offerings",
        json=OFFERING | {"name": NUL}, field="name"),
    Bad(id="category", method="POST", path=f"/places/{SOMEONE}/offerings",
        json=OFFERING | {"category": NUL}, field="category"),
    Bad(id="currency", method="POST", path=f"/places/{SOMEONE}/offerings",
        json=OFFERING | {"price": {"amount_minor": 1, "currency": "E\x00R"}},
        field="price.currency"),
    Bad(id="unknown key", method="POST", path="/providers", json={"na\x00me": "x"},
        field="na\x00me"),
    Bad(id="search category", method="GET", path="/search",
        params=SEARCH | {"category": NUL}, field="category"),
    Bad(id="search currency", method="GET", path="/search",
        params=SEARCH | {"currency": "E\x00R"}, field="currency"),
    Bad(id="cursor", method="GET", path="/providers", params={"after": NUL}, field="after"),
    Bad(id="availability window", method="GET", path=f"/offerings/{SOMEONE}/availability",
        params=WINDOW | {"from": NUL}, field="from"),
    Bad(id="session id in the path", method="DELETE", path="/me/sessions/a%00b",
        field="session_id"),
]  # fmt: skip


@pytest.mark.parametrize("case", NUL_CASES, ids=lambda case: case.id)
async def test_nul_anywhere_is_a_malformed_request_naming_where(
    client: Client, tokens: TokenTable, case: Bad
) -> None:
    response = await client.request(
        case.method, case.path, json=case.json, params=case.params, headers=tokens.admin()
    )

    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["type"] == "urn:reserva:problem:malformed-request"
    assert [error["field"] for error in problem["errors"]] == [case.field]


async def test_bidirectional_overrides_in_a_name_are_invalid_input(
    client: Client, tokens: TokenTable
) -> None:
    shop = await open_shop(client, tokens)

    response = await client.post(
        f"/places/{shop.place_id}/resources",
        json={"name": "Court \u202e1 truoC"},
        headers=shop.staff,
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "name"
    assert "U+202E" in response.json()["errors"][0]["message"]


async def test_invalid_utf8_in_a_body_is_a_malformed_request(
    client: Client, tokens: TokenTable
) -> None:
    response = await client.post(
        "/providers",
        content=b'{"name": "caf\xe9"}',
        headers=tokens.admin() | {"Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "body"
    assert "UTF-8" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
async def test_a_json_body_of_another_media_type_is_unsupported(
    client: Client, tokens: TokenTable, content_type: str
) -> None:
    response = await client.post(
        "/providers",
        content=b'{"name": "Plain Club"}',
        headers=tokens.admin() | {"Content-Type": content_type},
    )

    assert response.status_code == 415, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["type"] == "urn:reserva:problem:unsupported-media-type"


@pytest.mark.parametrize(
    ("path", "after"),
    [
        ("/providers", "not-a-cursor"),
        ("/bookings", "%%%"),
        ("/bookings", SOMEONE),  # an id, but of no booking of this list
        ("/search", "bm9wZQ"),  # base64 of "nope"
    ],
)
async def test_a_malformed_or_forged_cursor_is_a_bad_request_naming_it(
    client: Client, tokens: TokenTable, path: str, after: str
) -> None:
    params = {"after": after} | (SEARCH if path == "/search" else {})

    response = await client.get(path, params=params, headers=tokens.customer())

    assert response.status_code == 400, response.text
    assert response.json()["type"] == "urn:reserva:problem:invalid-cursor"
    assert response.json()["errors"][0]["field"] == "after"


# ---------------------------------------------------------------- card data


@pytest.mark.parametrize(
    "number",
    ["4242424242424242", "4242 4242 4242 4242", "4000-0027-6000-3184", "378282246310005"],
)
async def test_a_body_carrying_a_card_number_is_refused_and_never_echoed(
    client: Client, tokens: TokenTable, caplog: pytest.LogCaptureFixture, number: str
) -> None:
    response = await client.post(
        "/providers", json={"name": f"Card {number} Club"}, headers=tokens.admin()
    )
    listed = await client.get("/providers", headers=tokens.admin())

    assert response.status_code == 400, response.text
    assert response.json()["type"] == "urn:reserva:problem:card-data-refused"
    assert number not in response.text
    assert number not in caplog.text
    assert all("Card" not in provider["name"] for provider in listed.json()["items"])


async def test_a_card_number_in_a_query_is_refused(client: Client, tokens: TokenTable) -> None:
    response = await client.get(
        "/providers", params={"after": "5555555555554444"}, headers=tokens.admin()
    )

    assert response.status_code == 400
    assert response.json()["type"] == "urn:reserva:problem:card-data-refused"


@pytest.mark.parametrize(
    "text",
    [
        "4242424242424241",  # fails the Luhn check
        "+4915112345678",  # a phone number (E.164), though its digits pass the Luhn check
        "Court 12",
        "424242424242",  # 12 digits: too short for a card
    ],
)
async def test_digits_that_are_no_card_number_pass(
    client: Client, tokens: TokenTable, text: str
) -> None:
    response = await client.post(
        "/providers", json={"name": f"Club {text}"}, headers=tokens.admin()
    )

    assert response.status_code == 201, response.text
