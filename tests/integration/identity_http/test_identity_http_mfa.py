"""TOTP over HTTP: enrolment with a QR code, logins that need a code, codes that work once,
recovery codes, step-up, disabling."""

from __future__ import annotations

import base64
from datetime import timedelta

from identity_http_support import (
    PASSWORD,
    Client,
    Enrolled,
    SignedIn,
    bearer,
    enrol_totp,
    log_in,
    new_user,
    totp_code,
)

from adapters.memory.clock import FixedClock

STEP = timedelta(seconds=30)


async def _challenge(client: Client, email: str) -> str:
    response = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "mfa_required"
    token: str = response.json()["challenge_token"]
    return token


async def _enrolled_user(client: Client, clock: FixedClock) -> tuple[SignedIn, Enrolled]:
    user = await new_user(client)
    enrolled = await enrol_totp(client, user, clock.now())
    clock.advance(STEP)  # the enrolment used this step's code
    return user, enrolled


async def test_after_enrolment_login_needs_a_code_and_each_code_works_once(
    client: Client, clock: FixedClock
) -> None:
    user, enrolled = await _enrolled_user(client, clock)
    code = totp_code(enrolled.secret, clock.now())

    first = await client.post(
        "/auth/mfa/login",
        json={"challenge_token": await _challenge(client, user.email), "code": code},
    )
    replay = await client.post(
        "/auth/mfa/login",
        json={"challenge_token": await _challenge(client, user.email), "code": code},
    )

    assert first.status_code == 200
    assert first.json()["aal"] == "aal2"
    assert replay.status_code == 400
    assert replay.json()["type"] == "urn:reserva:problem:invalid-mfa-code"


async def test_a_confirmed_enrolment_gives_this_session_aal2(
    client: Client, clock: FixedClock
) -> None:
    user, enrolled = await _enrolled_user(client, clock)

    me = await client.get("/me", headers=enrolled.headers)
    refreshed = await client.post("/auth/refresh", json={"refresh_token": user.refresh})

    assert me.json()["session_aal"] == "aal2"
    assert me.json()["mfa"] == {"active": True, "enrolment_pending": False,
                                "recovery_codes_left": 10}  # fmt: skip
    assert refreshed.json()["aal"] == "aal2"


async def test_the_pending_enrolment_qr_is_served_as_png_and_svg(client: Client) -> None:
    user = await new_user(client)
    started = await client.post("/me/mfa/totp", headers=user.headers)

    png = await client.get(started.json()["qr_png_url"], headers=user.headers)
    svg = await client.get(started.json()["qr_svg_url"], headers=user.headers)

    data_url = started.json()["qr_png"]
    assert data_url.startswith("data:image/png;base64,")
    assert base64.b64decode(data_url.removeprefix("data:image/png;base64,")) == png.content
    assert started.json()["otpauth_uri"].startswith("otpauth://totp/Reserva:")
    assert started.headers["cache-control"] == "no-store"
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    assert png.headers["cache-control"] == "no-store"
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content


async def test_there_is_no_qr_before_enrolment_starts(client: Client) -> None:
    user = await new_user(client)

    response = await client.get("/me/mfa/totp/qr", headers=user.headers)

    assert response.status_code == 409
    assert response.json()["type"] == "urn:reserva:problem:mfa-enrolment-not-started"


async def test_the_qr_is_gone_once_enrolment_is_confirmed(
    client: Client, clock: FixedClock
) -> None:
    _, enrolled = await _enrolled_user(client, clock)

    response = await client.get("/me/mfa/totp/qr", headers=enrolled.headers)

    assert response.status_code == 409
    assert response.json()["type"] == "urn:reserva:problem:mfa-already-active"


async def test_a_wrong_first_code_does_not_enable_mfa(client: Client) -> None:
    user = await new_user(client)
    await client.post("/me/mfa/totp", headers=user.headers)

    confirm = await client.post(
        "/me/mfa/totp/confirm", json={"code": "000000"}, headers=user.headers
    )
    me = await client.get("/me", headers=user.headers)

    assert confirm.status_code == 400
    assert me.json()["mfa"]["active"] is False
    assert me.json()["mfa"]["enrolment_pending"] is True


async def test_a_recovery_code_logs_in_once(client: Client, clock: FixedClock) -> None:
    user, enrolled = await _enrolled_user(client, clock)
    recovery = enrolled.recovery_codes[0]

    used = await client.post(
        "/auth/mfa/login",
        json={"challenge_token": await _challenge(client, user.email), "code": recovery},
    )
    again = await client.post(
        "/auth/mfa/login",
        json={"challenge_token": await _challenge(client, user.email), "code": recovery},
    )

    assert used.status_code == 200
    assert again.status_code == 400


async def test_step_up_raises_another_session_to_aal2(client: Client, clock: FixedClock) -> None:
    user = await new_user(client)
    other = await log_in(client, user.email)  # before MFA: stays aal1
    enrolled = await enrol_totp(client, user, clock.now())
    clock.advance(STEP)

    wrong = await client.post("/me/mfa/step-up", json={"code": "000000"}, headers=other.headers)
    raised = await client.post(
        "/me/mfa/step-up",
        json={"code": totp_code(enrolled.secret, clock.now())},
        headers=other.headers,
    )
    me = await client.get("/me", headers=bearer(raised.json()["access_token"]))

    assert wrong.status_code == 400
    assert raised.status_code == 200
    assert raised.json()["aal"] == "aal2"
    assert me.json()["session_id"] == other.session_id
    assert me.json()["session_aal"] == "aal2"


async def test_new_recovery_codes_replace_the_old_ones(client: Client, clock: FixedClock) -> None:
    user, enrolled = await _enrolled_user(client, clock)

    renewed = await client.post(
        "/me/mfa/recovery-codes",
        json={"code": totp_code(enrolled.secret, clock.now())},
        headers=enrolled.headers,
    )
    old = await client.post(
        "/auth/mfa/login",
        json={
            "challenge_token": await _challenge(client, user.email),
            "code": enrolled.recovery_codes[0],
        },
    )

    assert renewed.status_code == 200
    assert len(renewed.json()["recovery_codes"]) == 10
    assert set(renewed.json()["recovery_codes"]).isdisjoint(enrolled.recovery_codes)
    assert old.status_code == 400


async def test_disabling_mfa_needs_a_code_and_then_login_needs_none(
    client: Client, clock: FixedClock
) -> None:
    user, enrolled = await _enrolled_user(client, clock)

    refused = await client.post(
        "/me/mfa/disable", json={"code": "000000"}, headers=enrolled.headers
    )
    disabled = await client.post(
        "/me/mfa/disable",
        json={"code": enrolled.recovery_codes[1]},
        headers=enrolled.headers,
    )
    login = await client.post("/auth/login", json={"email": user.email, "password": PASSWORD})

    assert refused.status_code == 400
    assert disabled.status_code == 204
    assert login.json()["outcome"] == "tokens"
