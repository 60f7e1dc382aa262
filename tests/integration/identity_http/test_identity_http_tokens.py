"""Access and refresh tokens over HTTP: rotation with a grace window, reuse detection, and
access tokens that a different JOSE library verifies against the published JWK set."""

from __future__ import annotations

import asyncio
import warnings
from datetime import timedelta

import pytest
from identity_http_support import Client, bearer, log_in, new_user, operator
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from adapters.memory.clock import FixedClock
from core.identity.model import ClientContext
from entrypoints.container import Container


async def test_two_tabs_refreshing_at_once_both_stay_signed_in(client: Client) -> None:
    user = await new_user(client)
    body = {"refresh_token": user.refresh}

    first, second = await asyncio.gather(
        client.post("/auth/refresh", json=body), client.post("/auth/refresh", json=body)
    )
    newest = first.json()["refresh_token"]
    next_one = await client.post("/auth/refresh", json={"refresh_token": newest})

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["refresh_token"] == newest != user.refresh
    assert next_one.status_code == 200


async def test_a_replay_after_the_grace_window_revokes_the_whole_session(
    client: Client, clock: FixedClock
) -> None:
    user = await new_user(client)
    rotated = await client.post("/auth/refresh", json={"refresh_token": user.refresh})
    newest = rotated.json()["refresh_token"]
    clock.advance(timedelta(seconds=11))  # the grace window is 10 s

    replay = await client.post("/auth/refresh", json={"refresh_token": user.refresh})
    after = await client.post("/auth/refresh", json={"refresh_token": newest})
    old_access = await client.get("/me/sessions", headers=user.headers)
    sessions = await client.get("/me/sessions", headers=(await log_in(client, user.email)).headers)

    assert replay.status_code == 401
    assert replay.json()["type"] == "urn:reserva:problem:refresh-token-reused"
    assert replay.json()["detail"].startswith("this refresh token was already used")
    assert after.status_code == 401
    assert old_access.status_code == 401  # the session's access tokens die with it
    assert user.session_id not in [s["id"] for s in sessions.json()]
    assert len(sessions.json()) == 1  # only the new login's


async def test_a_refresh_answers_a_working_access_token(client: Client) -> None:
    user = await new_user(client)

    refreshed = await client.post("/auth/refresh", json={"refresh_token": user.refresh})
    me = await client.get("/me", headers=bearer(refreshed.json()["access_token"]))

    assert refreshed.json()["session_id"] == user.session_id
    assert refreshed.json()["expires_in"] == 600
    assert me.json()["id"] == user.user_id


def _decode(token: str, jwks: dict[str, object]) -> jwt.Token:
    with warnings.catch_warnings():  # joserfc flags "EdDSA" in favour of RFC 9864's "Ed25519"
        warnings.simplefilter("ignore")
        return jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["EdDSA"])


async def test_an_access_token_verifies_with_joserfc_against_the_jwks(client: Client) -> None:
    user = await new_user(client)

    response = await client.get("/.well-known/jwks.json")
    token = _decode(user.access, response.json())
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": "reserva"},
        aud={"essential": True, "value": "reserva-api"},
        sub={"essential": True, "value": user.user_id},
    ).validate(token.claims)

    assert response.headers["cache-control"] == "max-age=60, public"
    assert token.header["alg"] == "EdDSA"
    assert token.header["kid"] in {key["kid"] for key in response.json()["keys"]}
    assert token.claims["aal"] == "aal1"
    assert token.claims["roles"] == ["customer"]
    assert token.claims["exp"] - token.claims["iat"] == 600


async def test_a_tampered_token_fails_joserfc_and_the_api(client: Client) -> None:
    user = await new_user(client)
    header, payload, signature = user.access.split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}AAAA"
    jwks = (await client.get("/.well-known/jwks.json")).json()

    refused = await client.get("/me", headers=bearer(tampered))

    with pytest.raises(BadSignatureError):
        _decode(tampered, jwks)
    assert refused.status_code == 401


async def test_a_rotated_key_stays_published_and_keeps_verifying(
    client: Client, container: Container, clock: FixedClock
) -> None:
    before = await new_user(client)
    new_kid = await container.rotate_signing_key()(
        caller=await operator(container), client=ClientContext()
    )
    clock.advance(timedelta(seconds=5))  # verifiers reload keys at most every 5 s

    after = await new_user(client)
    jwks = (await client.get("/.well-known/jwks.json")).json()
    old_token_still_works = await client.get("/me", headers=before.headers)

    assert jwks["keys"][0]["kid"] == new_kid.unwrap()
    assert _decode(after.access, jwks).header["kid"] == new_kid.unwrap()
    assert _decode(before.access, jwks).header["kid"] != new_kid.unwrap()
    assert old_token_still_works.status_code == 200
