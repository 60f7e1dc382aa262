"""Every write needs an access token, except the few that exist to get one. Checked over the
app's own route list, so a route added later without protection fails here."""

from __future__ import annotations

import re
import uuid

from identity_http_support import PROBLEM, Client
from litestar import Litestar
from litestar.routes import HTTPRoute

from entrypoints.http.auth import PUBLIC

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
# Anyone may call these: they are how a caller gets (or recovers) a token.
PUBLIC_WRITES = {
    ("POST", "/auth/register"),
    ("POST", "/auth/verify-email"),
    ("POST", "/auth/login"),
    ("POST", "/auth/mfa/login"),
    ("POST", "/auth/refresh"),
    ("POST", "/auth/password/reset-request"),
    ("POST", "/auth/password/reset"),
}
# A browser records its cookie choices before anyone logs in (against an anonymous id).
ANONYMOUS_WRITES = {("POST", "/cookies/choices")}
# The processor's or the provider's signature is the credential.
SIGNED_WEBHOOKS = {
    ("POST", f"/webhooks/{provider}")
    for provider in ("stripe", "sendgrid", "whatsapp", "cloudinary")
}


def _writes(app: Litestar) -> dict[tuple[str, str], bool]:
    """(method, path) -> whether the handler is public."""
    return {
        (method, route.path): bool(handler.opt.get(PUBLIC))
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for method, (handler, _) in route.route_handler_map.items()
        if method in WRITES
    }


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


async def test_only_token_getting_writes_signed_webhooks_and_cookie_choices_are_public(
    app: Litestar,
) -> None:
    public = {write for write, is_public in _writes(app).items() if is_public}

    assert public == PUBLIC_WRITES | ANONYMOUS_WRITES | SIGNED_WEBHOOKS


async def test_every_other_write_answers_401_without_a_token(app: Litestar, client: Client) -> None:
    protected = [write for write, is_public in _writes(app).items() if not is_public]

    answers = {
        (method, path): await client.request(method, _concrete(path), json={})
        for method, path in protected
    }

    assert len(protected) >= 25  # bookings, catalog management, /auth, /me and /admin
    for write, answer in answers.items():
        assert answer.status_code == 401, (write, answer.text)
        assert answer.headers["content-type"].startswith(PROBLEM)
        assert answer.headers["www-authenticate"].startswith("Bearer")


# The account's surface: sign-in, what a person does with their own account and data (their
# consents, exports, erasure), administration, and the privacy pages anyone may read.
ACCOUNT_PATHS = ("/auth/", "/me", "/admin/", "/.well-known/", "/privacy/", "/cookies/", "/exports/")


async def test_every_identity_operation_is_documented_with_who_may_call_it(
    client: Client,
) -> None:
    document = (await client.get("/openapi.json")).json()

    operations = {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        if path.startswith(ACCOUNT_PATHS)
        for method, operation in item.items()
    }

    # identity's 29, payments' /me and /admin routes, messaging's /me, /messages and /admin
    # (46); consent's and privacy's /me and /admin (8) and their public policies, cookie
    # categories and choices and export downloads (5); live availability's /me/live (1)
    assert len(operations) == 60
    for name, operation in operations.items():
        assert operation["description"].startswith("Who may call:"), name
        secured = bool(operation.get("security"))
        assert secured == (not operation["description"].startswith("Who may call: anyone")), name
        problems = [r for status, r in operation["responses"].items() if status >= "400"]
        assert problems, name
        assert all(PROBLEM in r["content"] for r in problems), name
