"""Roles with real tokens: staff and admin roles count only with a second factor, other people's
things are 404, and every administrative change lands in the audit log."""

from __future__ import annotations

from datetime import timedelta

from identity_http_support import (
    PASSWORD,
    Client,
    admin_with_mfa,
    bearer,
    claims,
    enrol_totp,
    log_in,
    new_user,
    open_shop,
    promote,
    slot_start,
)

from adapters.memory.clock import FixedClock
from entrypoints.container import Container

MFA_REQUIRED = "urn:reserva:problem:mfa-required"


async def test_staff_need_a_second_factor_for_management_and_succeed_with_it(
    client: Client, container: Container, clock: FixedClock
) -> None:
    admin = await admin_with_mfa(client, container, clock.now())
    shop = await open_shop(client, admin.headers)
    staff = await new_user(client, "staff")
    await promote(container, staff, staff_of=shop.provider_id)
    staff = await log_in(client, staff.email)  # roles reach tokens at the next login
    court = {"name": "Court 2"}

    without = await client.post(
        f"/places/{shop.place_id}/resources", json=court, headers=staff.headers
    )
    enrolled = await enrol_totp(client, staff, clock.now())
    with_mfa = await client.post(
        f"/places/{shop.place_id}/resources", json=court, headers=enrolled.headers
    )

    assert without.status_code == 403
    assert without.json()["type"] == MFA_REQUIRED
    assert "POST /me/mfa/totp" in without.json()["detail"]
    assert with_mfa.status_code == 201


async def test_admin_endpoints_need_an_admin_with_a_second_factor(
    client: Client, container: Container, clock: FixedClock
) -> None:
    target = await new_user(client)
    customer = await new_user(client)
    admin_without_mfa = await new_user(client, "admin")
    await promote(container, admin_without_mfa, admin=True)
    admin = await admin_with_mfa(client, container, clock.now())
    path = f"/admin/users/{target.user_id}/lock"
    body = {"reason": "chargebacks"}

    as_customer = await client.post(path, json=body, headers=customer.headers)
    as_admin_without_mfa = await client.post(
        path, json=body, headers=(await log_in(client, admin_without_mfa.email)).headers
    )
    as_admin = await client.post(path, json=body, headers=admin.headers)

    assert as_customer.status_code == 403
    assert as_customer.json()["type"] == "urn:reserva:problem:forbidden"
    assert as_admin_without_mfa.status_code == 403
    assert as_admin_without_mfa.json()["type"] == MFA_REQUIRED
    assert as_admin.status_code == 204


async def test_another_customers_booking_is_not_found(
    client: Client, container: Container, clock: FixedClock
) -> None:
    admin = await admin_with_mfa(client, container, clock.now())
    shop = await open_shop(client, admin.headers)
    owner, stranger = await new_user(client), await new_user(client)
    held = await client.post(
        "/bookings",
        json={"offering_id": shop.offering_id, "start": slot_start(clock.now())},
        headers=owner.headers,
    )
    booking = f"/bookings/{held.json()['id']}"

    seen = await client.get(booking, headers=stranger.headers)
    confirmed = await client.post(f"{booking}/confirm", headers=stranger.headers)
    own = await client.get(booking, headers=owner.headers)

    assert held.status_code == 201
    assert seen.status_code == 404
    assert confirmed.status_code == 404
    assert own.status_code == 200


async def test_a_locked_account_cannot_log_in_or_refresh_until_unlocked(
    client: Client, container: Container, clock: FixedClock
) -> None:
    admin = await admin_with_mfa(client, container, clock.now())
    user = await new_user(client)
    credentials = {"email": user.email, "password": PASSWORD}

    locked = await client.post(
        f"/admin/users/{user.user_id}/lock", json={"reason": "fraud"}, headers=admin.headers
    )
    refresh = await client.post("/auth/refresh", json={"refresh_token": user.refresh})
    login = await client.post("/auth/login", json=credentials)
    unlocked = await client.post(f"/admin/users/{user.user_id}/unlock", headers=admin.headers)
    login_again = await client.post("/auth/login", json=credentials)

    assert locked.status_code == 204
    assert refresh.status_code == 401
    assert login.status_code == 403
    assert login.json()["type"] == "urn:reserva:problem:account-locked"
    assert unlocked.status_code == 204
    assert login_again.status_code == 200


async def test_roles_granted_over_http_reach_the_next_token(
    client: Client, container: Container, clock: FixedClock
) -> None:
    admin = await admin_with_mfa(client, container, clock.now())
    user = await new_user(client)
    provider = "5d0f6c43-8b39-4a43-9a2c-0a4cbbd3f6a1"

    granted = await client.post(
        f"/admin/users/{user.user_id}/staff/{provider}", headers=admin.headers
    )
    made_admin = await client.post(f"/admin/users/{user.user_id}/admin", headers=admin.headers)
    refreshed = await client.post("/auth/refresh", json={"refresh_token": user.refresh})
    revoked = await client.delete(
        f"/admin/users/{user.user_id}/staff/{provider}", headers=admin.headers
    )
    unmade = await client.delete(f"/admin/users/{user.user_id}/admin", headers=admin.headers)
    stale = await client.get("/me", headers=bearer(refreshed.json()["access_token"]))
    again = await client.post(
        "/auth/refresh", json={"refresh_token": refreshed.json()["refresh_token"]}
    )
    me = await client.get("/me", headers=bearer(again.json()["access_token"]))

    assert [granted.status_code, made_admin.status_code] == [204, 204]
    assert refreshed.status_code == 200
    assert claims(refreshed.json()["access_token"])["roles"] == ["admin", "customer", "staff"]
    assert [revoked.status_code, unmade.status_code] == [204, 204]
    assert stale.status_code == 401  # its roles changed: the client refreshes
    assert claims(again.json()["access_token"])["roles"] == ["customer"]
    assert me.json()["roles"] == ["customer"]
    assert me.json()["provider_ids"] == []


async def test_an_admin_mfa_reset_lets_the_user_log_in_with_the_password_alone(
    client: Client, container: Container, clock: FixedClock
) -> None:
    admin = await admin_with_mfa(client, container, clock.now())
    user = await new_user(client)
    await enrol_totp(client, user, clock.now())

    reset = await client.post(f"/admin/users/{user.user_id}/mfa/reset", headers=admin.headers)
    login = await client.post("/auth/login", json={"email": user.email, "password": PASSWORD})

    assert reset.status_code == 204
    assert login.json()["outcome"] == "tokens"


async def test_an_unknown_user_is_404_for_admins(
    client: Client, container: Container, clock: FixedClock
) -> None:
    admin = await admin_with_mfa(client, container, clock.now())

    response = await client.post(
        "/admin/users/5d0f6c43-8b39-4a43-9a2c-0a4cbbd3f6a1/unlock", headers=admin.headers
    )

    assert response.status_code == 404


async def test_the_audit_log_filters_by_user_action_and_time(
    client: Client, container: Container, clock: FixedClock
) -> None:
    admin = await admin_with_mfa(client, container, clock.now())
    user = await new_user(client)
    clock.advance(timedelta(seconds=1))
    start = clock.now()
    await client.post(
        f"/admin/users/{user.user_id}/lock", json={"reason": "fraud"}, headers=admin.headers
    )
    clock.advance(timedelta(seconds=1))
    await client.post(f"/admin/users/{user.user_id}/unlock", headers=admin.headers)

    everything = await client.get(
        "/admin/audit", params={"user": user.user_id, "since": start.isoformat()},
        headers=admin.headers,
    )  # fmt: skip
    locks = await client.get(
        "/admin/audit", params={"user": user.user_id, "action": "user.locked"},
        headers=admin.headers,
    )  # fmt: skip
    until = (start + timedelta(seconds=1)).isoformat()
    before_unlock = await client.get(
        "/admin/audit", params={"user": user.user_id, "since": start.isoformat(), "until": until},
        headers=admin.headers,
    )  # fmt: skip

    assert [e["action"] for e in everything.json()] == ["user.unlocked", "user.locked"]
    assert [e["action"] for e in locks.json()] == ["user.locked"]
    assert locks.json()[0]["details"]["reason"] == "fraud"
    assert locks.json()[0]["subject_user_id"] == user.user_id
    assert locks.json()[0]["actor_user_id"] is not None
    assert [e["action"] for e in before_unlock.json()] == ["user.locked"]


async def test_the_user_list_is_for_admins_by_email(
    client: Client, container: Container, clock: FixedClock
) -> None:
    admin = await admin_with_mfa(client, container, clock.now())
    user = await new_user(client)

    first = await client.get("/admin/users", params={"limit": 1}, headers=admin.headers)
    rest = await client.get(
        "/admin/users",
        params={"after": first.json()[0]["email"], "limit": 1000},
        headers=admin.headers,
    )
    refused = await client.get("/admin/users", headers=user.headers)

    # In the order of the addresses' keyed hashes (they are sealed): no page repeats another.
    listed = first.json() + rest.json()
    emails = [u["email"] for u in listed]
    assert len(emails) == len(set(emails))
    assert next(u for u in listed if u["email"] == user.email)["roles"] == ["customer"]
    assert refused.status_code == 403
