"""`reserva users/keys/audit` against a real PostgreSQL database and Redis (where locks and role
changes refuse the user's access tokens), through typer's CliRunner.

Every failure must end with exit status 1 and exactly one line on stderr.
"""

from __future__ import annotations

import asyncio
import getpass
import uuid
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import attrs
import pytest
import pytest_asyncio
from click.testing import Result
from returns.result import Success
from typer.testing import CliRunner

from adapters.postgis import migrate
from core.identity import TokenPair
from core.identity.admin import operator_email
from core.identity.model import AuditAction, AuditQuery, ClientContext
from core.shared.principal import Role
from devservers.postgres import LocalDatabase, LocalPostgres
from entrypoints.cli import identity
from entrypoints.cli.identity import DEMO_ADMIN, DEMO_CUSTOMER, ensure_demo_accounts
from entrypoints.cli.main import app
from entrypoints.container import Container, build_container
from entrypoints.settings import Settings

runner = CliRunner()
PASSWORD = "plum orbit lantern 77"
CHEAP_ARGON2 = {"ARGON2_MEMORY_KIB": "1024", "ARGON2_TIME_COST": "1"}


@attrs.frozen
class Stores:
    database_url: str
    redis_url: str


NO_REDIS = "redis://127.0.0.1:1/0"


def reserva(stores: Stores, *args: str, stdin: str | None = None) -> Result:
    environment = {"DATABASE_URL": stores.database_url, "REDIS_URL": stores.redis_url}
    env = environment | CHEAP_ARGON2 | {"COLUMNS": "300"}
    return runner.invoke(app, list(args), env=env, input=stdin)


async def cli(stores: Stores, *args: str, stdin: str | None = None) -> Result:
    """`reserva` from an async test: the CLI runs its own event loop, so in a thread."""
    return await asyncio.to_thread(partial(reserva, stores, *args, stdin=stdin))


def assert_failed_with(result: Result, words: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1, result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.output


def new_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}@example.com"


@pytest.fixture(scope="module")
def database(postgres_server: LocalPostgres, redis_url: str) -> Stores:
    database = postgres_server.create_database(f"reserva_identity_cli_{uuid.uuid4().hex[:12]}")
    migrate.upgrade(database.migrator_url)
    return Stores(database.app_url, redis_url)


@pytest_asyncio.fixture
async def container(database: Stores, kek_file: Path) -> AsyncIterator[Container]:
    container = build_container(
        Settings(database_url=database.database_url, redis_url=database.redis_url,
                 argon2_memory_kib=1024, argon2_time_cost=1, kek_file=kek_file)
    )  # fmt: skip
    yield container
    await container.close()


async def _customer(container: Container) -> str:
    email = new_email()
    assert await container.register()(email=email, password=PASSWORD) == Success(None)
    return email


async def _log_in(container: Container, email: str, password: str = PASSWORD) -> TokenPair:
    logged_in = await container.login()(email=email, password=password, client=ClientContext())
    pair = logged_in.unwrap()
    assert isinstance(pair, TokenPair)
    return pair


def _row_of(result: Result, email: str) -> str:
    return next(line for line in result.stdout.splitlines() if email in line)


# ---------------------------------------------------------------- users create-admin


async def test_create_admin_reads_the_password_from_stdin(
    database: Stores, container: Container
) -> None:
    email = new_email("admin")

    created = await cli(database, "users", "create-admin", email, "--password-stdin",
                      stdin=f"{PASSWORD}\n")  # fmt: skip
    listed = await cli(database, "users", "list", "--limit", "1000")
    pair = await _log_in(container, email)

    assert created.exit_code == 0, created.output
    assert f"admin {email} created" in created.stdout
    assert "POST /me/mfa/totp" in created.stdout
    assert "admin, customer" in _row_of(listed, email)
    assert Role.ADMIN in pair.access.claims.roles


async def test_create_admin_prompts_for_the_password_twice(
    database: Stores, container: Container
) -> None:
    email = new_email("admin")

    created = await cli(database, "users", "create-admin", email, stdin=f"{PASSWORD}\n{PASSWORD}\n")

    assert created.exit_code == 0, created.output
    assert Role.ADMIN in (await _log_in(container, email)).access.claims.roles


async def test_create_admin_refuses_an_address_that_has_an_account(
    database: Stores, container: Container
) -> None:
    email = await _customer(container)

    result = await cli(database, "users", "create-admin", email, "--password-stdin",
                     stdin=f"{PASSWORD}\n")  # fmt: skip

    assert_failed_with(result, "already has an account")


def test_create_admin_refuses_a_common_password(database: Stores) -> None:
    result = reserva(database, "users", "create-admin", new_email(), "--password-stdin",
                     stdin="qwerty123456\n")  # fmt: skip

    assert_failed_with(result, "common or breached")


def test_create_admin_refuses_a_malformed_address(database: Stores) -> None:
    result = reserva(database, "users", "create-admin", "nobody", "--password-stdin",
                     stdin=f"{PASSWORD}\n")  # fmt: skip

    assert_failed_with(result, "email")


# ---------------------------------------------------------------- users lock/unlock/roles/mfa


async def test_lock_and_unlock_by_email_show_in_the_list_and_the_audit_log(
    database: Stores, container: Container
) -> None:
    email = await _customer(container)

    locked = await cli(database, "users", "lock", email, "--reason", "chargebacks")
    listed_locked = await cli(database, "users", "list", "--limit", "1000")
    refused = await container.login()(email=email, password=PASSWORD, client=ClientContext())
    unlocked = await cli(database, "users", "unlock", email)
    audit = await cli(database, "audit", "--user", email)

    assert locked.exit_code == 0, locked.output
    assert "LOCKED" in _row_of(listed_locked, email)
    assert type(refused.failure()).__name__ == "AccountLocked"
    assert unlocked.exit_code == 0, unlocked.output
    lines = audit.stdout.splitlines()
    unlock_line = next(i for i, line in enumerate(lines) if "user.unlocked" in line)
    lock_line = next(i for i, line in enumerate(lines) if "user.locked" in line)
    assert unlock_line < lock_line  # newest first
    assert "operator" in lines[lock_line]
    assert "reason=chargebacks" in lines[lock_line]
    assert (await _log_in(container, email)).access


async def test_a_lock_refuses_the_users_access_tokens_at_once(
    database: Stores, container: Container
) -> None:
    email = await _customer(container)
    token = (await _log_in(container, email)).access.token
    before = await container.authenticator()(token)

    locked = await cli(database, "users", "lock", email, "--reason", "stolen laptop")

    assert before is not None
    assert locked.exit_code == 0, locked.output
    assert await container.authenticator()(token) is None


async def test_a_lock_without_redis_fails_and_a_retry_refuses_the_tokens(
    database: Stores, container: Container
) -> None:
    email = await _customer(container)
    token = (await _log_in(container, email)).access.token

    unreachable = await cli(attrs.evolve(database, redis_url=NO_REDIS), "users", "lock", email,
                            "--reason", "one")  # fmt: skip
    retried = await cli(database, "users", "lock", email, "--reason", "two")

    assert_failed_with(unreachable, "cannot reach Redis")
    assert retried.exit_code == 0, retried.output
    assert await container.authenticator()(token) is None


async def test_grant_and_revoke_staff_by_id(database: Stores, container: Container) -> None:
    email = await _customer(container)
    user_id = str((await _log_in(container, email)).access.claims.user_id)
    provider = str(uuid.uuid4())

    granted = await cli(database, "users", "grant-staff", user_id, provider)
    as_staff = await cli(database, "users", "list", "--limit", "1000")
    revoked = await cli(database, "users", "revoke-staff", email, provider)
    as_customer = await cli(database, "users", "list", "--limit", "1000")

    assert granted.exit_code == revoked.exit_code == 0
    assert provider in _row_of(as_staff, email)
    assert "customer, staff" in _row_of(as_staff, email)
    assert provider not in _row_of(as_customer, email)


async def test_grant_and_revoke_admin(database: Stores, container: Container) -> None:
    email = await _customer(container)

    granted = await cli(database, "users", "grant-admin", email)
    with_admin = (await _log_in(container, email)).access.claims.roles
    revoked = await cli(database, "users", "revoke-admin", email)
    without = (await _log_in(container, email)).access.claims.roles

    assert granted.exit_code == revoked.exit_code == 0
    assert Role.ADMIN in with_admin
    assert Role.ADMIN not in without


async def test_reset_mfa_is_audited(database: Stores, container: Container) -> None:
    email = await _customer(container)

    reset = await cli(database, "users", "reset-mfa", email)
    audit = await cli(database, "audit", "--user", email, "--action", "mfa.reset_by_admin")

    assert reset.exit_code == 0, reset.output
    assert "mfa.reset_by_admin" in audit.stdout
    assert "operator" in audit.stdout


async def test_cli_actions_are_audited_under_the_operators_own_account(
    database: Stores, container: Container
) -> None:
    email = await _customer(container)

    locked = await cli(database, "users", "lock", email, "--reason", "whose hand")

    assert locked.exit_code == 0, locked.output
    caller = await identity.operator(container)  # the same OS user: the same account
    account = await container.find_user_by_email()(
        caller=caller, email=operator_email(getpass.getuser())
    )
    assert account.unwrap().user_id == caller.user_id
    customer = (await container.find_user_by_email()(caller=caller, email=email)).unwrap()
    query = AuditQuery(action=AuditAction.USER_LOCKED, user_id=customer.user_id)
    [entry] = (await container.query_audit_log()(caller=caller, query=query)).unwrap()
    assert entry.actor_user_id == caller.user_id
    assert entry.details["via"] == "operator"
    assert entry.details["os_user"] == getpass.getuser()
    started = AuditQuery(action=AuditAction.OPERATOR_SESSION_STARTED, user_id=caller.user_id)
    assert (await container.query_audit_log()(caller=caller, query=started)).unwrap()


def test_an_unknown_user_fails_with_one_line(database: Stores) -> None:
    assert_failed_with(reserva(database, "users", "unlock", new_email()), "not found")
    assert_failed_with(reserva(database, "users", "unlock", str(uuid.uuid4())), "not found")


def test_a_malformed_provider_id_fails_with_one_line(database: Stores) -> None:
    result = reserva(database, "users", "grant-staff", new_email(), "not-a-uuid")

    assert_failed_with(result, "not a valid provider id")


# ---------------------------------------------------------------- keys and audit


async def test_keys_rotate_prints_the_key_that_signs_from_then_on(
    database: Stores, container: Container
) -> None:
    email = await _customer(container)

    rotated = await cli(database, "keys", "rotate")
    kid = rotated.stdout.split()[-1]
    jwks = (await container.get_jwks()()).unwrap()
    audit = await cli(database, "audit", "--action", "signing_key.rotated", "--limit", "1")

    assert rotated.exit_code == 0, rotated.output
    assert jwks["keys"][0]["kid"] == kid
    assert f"new_kid={kid}" in audit.stdout
    signed = (await _log_in(container, email)).access.token
    assert container.access_token_codec().key_id(signed) == kid


async def test_keys_rotate_kek_rewraps_the_secrets_and_the_service_still_reads_them(
    database: Stores, container: Container
) -> None:
    email = await _customer(container)  # a sealed verification token in the outbox
    signed = (await _log_in(container, email)).access.token  # a sealed signing key

    rotated = await cli(database, "keys", "rotate-kek")
    audit = await cli(database, "audit", "--action", "kek.rotated", "--limit", "1")

    assert rotated.exit_code == 0, rotated.output
    kek_id, rewrapped = rotated.stdout.split()[3].rstrip(";"), int(rotated.stdout.split()[4])
    assert rewrapped >= 2  # at least this test's signing key and mailed token
    assert await container.key_store().active() == kek_id  # the running container sees it
    assert f"new_kek={kek_id}" in audit.stdout
    assert (await container.verify_access_token()(token=signed)).unwrap().user_id
    assert (await _log_in(container, email)).access.token  # signs with the re-wrapped key


async def test_the_audit_log_filters_by_time_and_limits_rows(
    database: Stores, container: Container
) -> None:
    email = await _customer(container)
    await cli(database, "users", "lock", email, "--reason", "one")
    await cli(database, "users", "lock", email, "--reason", "two")

    newest = await cli(database, "audit", "--user", email, "--limit", "1")
    future = await cli(database, "audit", "--user", email, "--since", "2099-01-01")
    past = await cli(database, "audit", "--user", email, "--until", "2001-01-01T00:00+02:00")
    spanning = await cli(database, "audit", "--user", email, "--since", "2001-01-01")

    assert newest.exit_code == future.exit_code == past.exit_code == spanning.exit_code == 0
    assert newest.stdout.count("user.locked") == 1
    assert spanning.stdout.count("user.locked") == 2
    assert "reason=two" in newest.stdout
    assert "reason=one" not in newest.stdout
    assert "user.locked" not in future.stdout
    assert "user.locked" not in past.stdout


def test_a_malformed_instant_fails_with_one_line(database: Stores) -> None:
    result = reserva(database, "audit", "--since", "yesterday")

    assert_failed_with(result, "--since must be an ISO 8601")


# ---------------------------------------------------------------- demo accounts


async def test_demo_accounts_are_created_once_and_work(
    new_database: LocalDatabase, redis_url: str, kek_file: Path
) -> None:
    migrate.upgrade(new_database.migrator_url)
    container = build_container(
        Settings(database_url=new_database.app_url, redis_url=redis_url, argon2_memory_kib=1024,
                 argon2_time_cost=1, kek_file=kek_file)
    )  # fmt: skip
    try:
        first = await ensure_demo_accounts(container)
        second = await ensure_demo_accounts(container)
        logins = {a.email: await _log_in(container, a.email, a.password) for a in first}
    finally:
        await container.close()

    assert {a.email for a in first} == {DEMO_CUSTOMER, DEMO_ADMIN}
    assert second == []
    assert Role.ADMIN in logins[DEMO_ADMIN].access.claims.roles
    assert Role.ADMIN not in logins[DEMO_CUSTOMER].access.claims.roles
