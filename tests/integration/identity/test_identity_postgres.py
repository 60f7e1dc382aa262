"""The identity use cases on real PostgreSQL with the production crypto adapters: end to end,
under concurrency, the audit log's append-only rule, and the migration."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from identity_integration_support import IDENTITY_TABLES, START
from returns.result import Failure, Success
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.clock import FixedClock
from adapters.postgis import migrate
from adapters.postgis.identity import tables as identity_tables
from adapters.postgis.metadata import metadata
from adapters.security.totp import PyotpTotpGenerator
from core.identity import (
    BeginTotpEnrolment,
    CompleteMfaLogin,
    ConfirmTotpEnrolment,
    GetJwks,
    Login,
    QueryAuditLog,
    Refresh,
    Register,
    RevokeSession,
    RotateSigningKey,
    StepUp,
    VerifyAccessToken,
    VerifyEmail,
    open_mailed_token,
)
from core.identity.common import MfaChallenge, TokenPair
from core.identity.errors import InvalidRefreshToken
from core.identity.model import (
    EMAIL_VERIFICATION_REQUESTED,
    Aal,
    AuditAction,
    AuditQuery,
    ClientContext,
)
from core.shared.events import Event
from core.shared.keyring import Keyring
from devservers.postgres import LocalDatabase
from identity_wiring import IdentityPorts, operator

CLIENT = ClientContext(ip="198.51.100.9", user_agent="integration")
# No per-IP back-off key: for tests that fail on purpose more often than the back-off allows.
NO_IP = ClientContext(user_agent="integration")
PASSWORD = "correct horse battery staple"


async def register_and_login(deps: IdentityPorts, email: str) -> TokenPair:
    assert await deps(Register)(email=email, password=PASSWORD) == Success(None)
    result = await deps(Login)(email=email, password=PASSWORD, client=CLIENT)
    pair = result.unwrap()
    assert isinstance(pair, TokenPair)
    return pair


async def verification_token(engine: AsyncEngine, keyring: Keyring) -> str:
    async with engine.connect() as connection:
        payload = (
            await connection.execute(
                sa.text("SELECT payload FROM outbox WHERE name = :name"),
                {"name": EMAIL_VERIFICATION_REQUESTED},
            )
        ).scalar_one()
    mail = Event(name=EMAIL_VERIFICATION_REQUESTED, occurred_at=START, payload=payload)
    return await open_mailed_token(keyring, mail)


async def test_end_to_end_with_mfa(
    pg_deps: IdentityPorts, clean_engine: AsyncEngine, clock: FixedClock
) -> None:
    pair = await register_and_login(pg_deps, "Grace@Example.org")
    user_id = pair.access.claims.user_id
    assert await pg_deps(VerifyEmail)(
        token=await verification_token(clean_engine, pg_deps.keyring), client=CLIENT
    ) == Success(user_id)
    # The access token is a real EdDSA JWT that the JWKS verifies.
    header = json.loads(base64.urlsafe_b64decode(pair.access.token.split(".")[0] + "=="))
    jwks = (await pg_deps(GetJwks)()).unwrap()
    assert [k["kid"] for k in jwks["keys"]] == [header["kid"]]
    verify = pg_deps(VerifyAccessToken)
    assert await verify(token=pair.access.token) == Success(pair.access.claims)

    totp = PyotpTotpGenerator()
    enrolment = (await pg_deps(BeginTotpEnrolment)(user_id=user_id)).unwrap()
    assert enrolment.qr_png.startswith(b"\x89PNG")
    enabled = (
        await pg_deps(ConfirmTotpEnrolment)(
            user_id=user_id,
            session_id=pair.session_id,
            code=totp.code_at(enrolment.secret, clock.now()),
            client=CLIENT,
        )
    ).unwrap()
    assert enabled.access.claims.aal is Aal.AAL2

    clock.advance(timedelta(seconds=30))
    challenge = (
        await pg_deps(Login)(email="grace@example.org", password=PASSWORD, client=CLIENT)
    ).unwrap()
    assert isinstance(challenge, MfaChallenge)
    mfa_pair = (
        await pg_deps(CompleteMfaLogin)(
            challenge_token=challenge.challenge_token,
            code=enabled.recovery_codes[3],
            client=CLIENT,
        )
    ).unwrap()
    assert mfa_pair.access.claims.aal is Aal.AAL2
    refreshed = (
        await pg_deps(Refresh)(refresh_token=mfa_pair.refresh_token, client=CLIENT)
    ).unwrap()
    assert await verify(token=refreshed.access.token) == Success(refreshed.access.claims)

    new_kid = (
        await pg_deps(RotateSigningKey)(caller=await operator(pg_deps), client=CLIENT)
    ).unwrap()
    assert [k["kid"] for k in (await pg_deps(GetJwks)()).unwrap()["keys"]] == [
        new_kid,
        header["kid"],
    ]
    audit = (
        await pg_deps(QueryAuditLog)(
            caller=await operator(pg_deps), query=AuditQuery(user_id=user_id)
        )
    ).unwrap()
    assert {e.action for e in audit} >= {
        AuditAction.LOGIN_SUCCEEDED,
        AuditAction.MFA_ENROLLED,
        AuditAction.MFA_RECOVERY_CODE_USED,
    }


async def test_concurrent_refreshes_within_grace_both_get_the_same_child(
    pg_deps: IdentityPorts,
) -> None:
    refresh = pg_deps(Refresh)
    for n in range(8):
        pair = await register_and_login(pg_deps, f"tabs{n}@example.com")
        first, second = await asyncio.gather(
            refresh(refresh_token=pair.refresh_token, client=CLIENT),
            refresh(refresh_token=pair.refresh_token, client=CLIENT),
        )
        assert first.unwrap().refresh_token == second.unwrap().refresh_token
        assert first.unwrap().refresh_token != pair.refresh_token
        # The shared child is the one live token and rotates normally.
        value = await refresh(refresh_token=first.unwrap().refresh_token, client=CLIENT)
        assert isinstance(value, Success)


async def test_a_refresh_racing_a_revoke_never_yields_a_usable_token(
    pg_deps: IdentityPorts,
) -> None:
    refresh, revoke = pg_deps(Refresh), pg_deps(RevokeSession)
    for n in range(12):
        pair = await register_and_login(pg_deps, f"race{n}@example.com")
        user_id = pair.access.claims.user_id
        racing = [
            refresh(refresh_token=pair.refresh_token, client=NO_IP),
            revoke(user_id=user_id, session_id=pair.session_id),
        ]
        if n % 2:
            racing.reverse()
        results = await asyncio.gather(*racing)
        refresh_result = results[0] if n % 2 == 0 else results[1]
        assert Success(None) in results
        # Whatever the order of commits, nothing from the family refreshes after the revoke.
        for token in (pair.refresh_token, *_tokens(refresh_result)):
            assert await refresh(refresh_token=token, client=NO_IP) == Failure(
                InvalidRefreshToken()
            )


def _tokens(result: object) -> list[str]:
    return [result.unwrap().refresh_token] if isinstance(result, Success) else []


async def test_a_totp_code_wins_only_once_under_concurrency(
    pg_deps: IdentityPorts, clock: FixedClock
) -> None:
    pair = await register_and_login(pg_deps, "steps@example.com")
    user_id = pair.access.claims.user_id
    totp = PyotpTotpGenerator()
    enrolment = (await pg_deps(BeginTotpEnrolment)(user_id=user_id)).unwrap()
    await pg_deps(ConfirmTotpEnrolment)(
        user_id=user_id,
        session_id=pair.session_id,
        code=totp.code_at(enrolment.secret, clock.now()),
        client=CLIENT,
    )
    clock.advance(timedelta(seconds=30))
    code = totp.code_at(enrolment.secret, clock.now())
    step_up = pg_deps(StepUp)
    results = await asyncio.gather(
        *(
            step_up(user_id=user_id, session_id=pair.session_id, code=code, client=CLIENT)
            for _ in range(4)
        )
    )
    assert sum(isinstance(r, Success) for r in results) == 1


async def test_concurrent_registrations_of_one_email_create_one_account(
    pg_deps: IdentityPorts, owner_engine: AsyncEngine
) -> None:
    register = pg_deps(Register)
    results = await asyncio.gather(
        *(register(email=f"Twin@{d}", password=PASSWORD) for d in ("example.com", "EXAMPLE.com"))
    )
    assert results == [Success(None), Success(None)]
    async with owner_engine.connect() as connection:  # every row, past row-level security
        count = (await connection.execute(sa.text("SELECT count(*) FROM users"))).scalar_one()
        notices = (await connection.execute(sa.text("SELECT name FROM outbox"))).scalars().all()
    assert count == 1
    assert sorted(notices) == [
        "identity.email_verification_requested",
        "identity.existing_account_registration_attempted",
    ]


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"]
)
async def test_audit_log_refuses_updates_and_deletes(
    pg_deps: IdentityPorts, owner_engine: AsyncEngine, statement: str
) -> None:
    """Even the owner, who has every privilege on the table, meets the trigger."""
    await register_and_login(pg_deps, "audited@example.com")
    async with owner_engine.connect() as connection:
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            await connection.execute(sa.text(statement))
        await connection.rollback()
        count = (await connection.execute(sa.text("SELECT count(*) FROM audit_log"))).scalar_one()
    assert count == 1


def _identity_only(obj: object, name: str | None, type_: str, *_: object) -> bool:
    return type_ != "table" or name in IDENTITY_TABLES


def test_migration_matches_the_declared_tables_and_downgrades_cleanly(
    new_database: LocalDatabase,
) -> None:
    assert identity_tables.users.metadata is metadata
    migrate.upgrade(new_database.migrator_url)
    engine = sa.create_engine(new_database.migrator_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "include_object": _identity_only}
            )
            assert compare_metadata(context, metadata) == []
            triggers = connection.execute(
                sa.text("SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_log'::regclass")
            ).scalars()
            assert sorted(triggers) == ["audit_log_append_only", "audit_log_chain"]
        migrate.downgrade(new_database.migrator_url, "0001_bookings")
        with engine.connect() as connection:
            names = set(sa.inspect(connection).get_table_names())
            functions = connection.execute(
                sa.text("SELECT count(*) FROM pg_proc WHERE proname = 'audit_log_append_only'")
            ).scalar_one()
        assert names.isdisjoint(set(IDENTITY_TABLES) - {"outbox"})
        assert functions == 0
    finally:
        engine.dispose()
