"""Issue 10 §2-3 for identity: addresses, IP addresses and user agents are sealed per person
(a dump holds none in clear), logins find accounts by the keyed hash of the address, a shredded
person's account no longer opens, and identity's PersonalRecords export and erase."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, cast

import pytest
import sqlalchemy as sa
from returns.result import Success
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.clock import FixedClock
from adapters.postgis.identity import PostgisIdentityUnitOfWork
from adapters.postgis.identity.records import identity_records
from adapters.security.keyring import AesGcmKeyring
from adapters.security.personal import AesGcmPersonalData
from core.consent.records import Json, PersonalRecords
from core.identity import AccessTokenAuthenticator, Login, Register, VerifyAccessToken
from core.identity.common import TokenPair
from core.identity.errors import InvalidCredentials
from core.identity.model import AuditQuery, ClientContext
from core.shared.ids import UserId
from core.shared.unit_of_work import MAINTENANCE
from identity_wiring import IdentityPorts, personal_data, real_deps
from raw_dump import raw_database

PASSWORD = "correct horse battery staple"
IP, AGENT = "203.0.113.77", "Privacy-Probe/1.0 (integration)"
CLIENT = ClientContext(ip=IP, user_agent=AGENT)


@pytest.fixture
def personal(clean_engine: AsyncEngine, keyring: AesGcmKeyring) -> AesGcmPersonalData:
    return personal_data(clean_engine, keyring)


@pytest.fixture
def deps(
    clean_engine: AsyncEngine,
    keyring: AesGcmKeyring,
    clock: FixedClock,
    personal: AesGcmPersonalData,
) -> IdentityPorts:
    return real_deps(clean_engine, keyring, clock, personal=personal)


@pytest.fixture
def records(
    clean_engine: AsyncEngine,
    keyring: AesGcmKeyring,
    personal: AesGcmPersonalData,
    deps: IdentityPorts,
) -> dict[str, PersonalRecords]:
    uow = PostgisIdentityUnitOfWork.factory(clean_engine, keyring, personal)
    return {r.section: r for r in identity_records(uow, personal, deps.live_sessions)}


async def _register_and_login(deps: IdentityPorts, email: str) -> TokenPair:
    assert await deps(Register)(email=email, password=PASSWORD) == Success(None)
    pair = (await deps(Login)(email=email, password=PASSWORD, client=CLIENT)).unwrap()
    assert isinstance(pair, TokenPair)
    return pair


def _rows(section: Json) -> list[dict[str, Any]]:
    assert isinstance(section, list)
    return [cast(dict[str, Any], row) for row in section]


def _outside_the_outbox(dump: str) -> str:
    """Outbox payloads are messaging's part of issue 10 (mailed-token events still carry the
    address until messaging resolves it from its People port)."""
    return "\n".join(line for line in dump.splitlines() if not line.startswith("outbox: "))


async def test_a_dump_holds_no_address_ip_address_or_user_agent_in_clear(
    deps: IdentityPorts, owner_engine: AsyncEngine
) -> None:
    await _register_and_login(deps, "Ada.Lovelace@Example.org")
    # A failed login records the address typed, and the client, about the account.
    await deps(Login)(email="ada.lovelace@example.org", password="wrong", client=CLIENT)

    dump = _outside_the_outbox(await raw_database(owner_engine)).lower()

    for table in ("users", "auth_sessions", "audit_log_clients"):
        assert f"\n{table}: " in f"\n{dump}", table
    for value in ("ada.lovelace", "lovelace@", IP, "privacy-probe"):
        assert value.lower() not in dump, value


async def test_login_finds_the_account_whatever_the_case_of_the_address(
    deps: IdentityPorts,
) -> None:
    registered = await _register_and_login(deps, "Mixed.Case@Example.ORG")

    again = await deps(Login)(email="  MIXED.case@example.org ", password=PASSWORD, client=CLIENT)

    pair = again.unwrap()
    assert isinstance(pair, TokenPair)
    assert pair.access.claims.user_id == registered.access.claims.user_id
    async with deps.uow(MAINTENANCE) as uow:
        user = await uow.users.by_email_key("mixed.case@example.org")
    assert user is not None
    assert user.email.value == "Mixed.Case@example.org"  # as typed, domain lowercased


async def test_concurrent_registrations_of_one_address_in_two_cases_make_one_account(
    deps: IdentityPorts, owner_engine: AsyncEngine
) -> None:
    register = deps(Register)
    results = await asyncio.gather(
        *(
            register(email=email, password=PASSWORD)
            for email in ("TWIN@x.example", "twin@x.example")
        )
    )

    assert results == [Success(None), Success(None)]
    async with owner_engine.connect() as connection:
        count = (await connection.execute(sa.text("SELECT count(*) FROM users"))).scalar_one()
    assert count == 1


async def test_a_shredded_persons_account_no_longer_opens(
    deps: IdentityPorts, personal: AesGcmPersonalData
) -> None:
    pair = await _register_and_login(deps, "gone@example.org")
    user_id = pair.access.claims.user_id

    assert await personal.shred(user_id)

    async with deps.uow(MAINTENANCE) as uow:
        assert await uow.users.get(user_id) is None
        assert await uow.users.by_email_key("gone@example.org") is None
        sessions = await uow.sessions.list_live(user_id, deps.clock.now())
        entries = await uow.audit.query(AuditQuery(user_id=user_id))
    assert [(s.ip, s.user_agent) for s in sessions] == [(None, None)]
    assert entries
    assert all(e.ip is None and e.user_agent is None for e in entries)
    login = await deps(Login)(email="gone@example.org", password=PASSWORD, client=CLIENT)
    assert login.failure() == InvalidCredentials()


async def test_export_holds_the_account_its_sessions_and_its_audit_entries(
    deps: IdentityPorts, records: dict[str, PersonalRecords]
) -> None:
    pair = await _register_and_login(deps, "Export.Me@example.org")
    person = pair.access.claims.user_id

    account = await records["account"].export(person)
    sessions = _rows(await records["sessions"].export(person))
    audit = _rows(await records["audit"].export(person))

    assert isinstance(account, dict)
    assert account["email"] == "Export.Me@example.org"
    assert account["roles"] == ["customer"]
    assert account["mfa_enabled"] is False
    assert not any("hash" in key or "secret" in key for key in account)
    assert [(s["ip"], s["user_agent"]) for s in sessions] == [(IP, AGENT)]
    logins = [e for e in audit if e["action"] == "login.succeeded"]
    assert [(e["ip"], e["user_agent"], e["as"]) for e in logins] == [(IP, AGENT, "subject")]
    assert set(records) == {"account", "sessions", "audit"}


async def test_erasure_is_idempotent_ends_tokens_and_leaves_only_pseudonymous_entries(
    deps: IdentityPorts,
    records: dict[str, PersonalRecords],
    owner_engine: AsyncEngine,
    personal: AesGcmPersonalData,
) -> None:
    pair = await _register_and_login(deps, "erase.me@example.org")
    other = await _register_and_login(deps, "stays@example.org")
    person = pair.access.claims.user_id
    authenticate = AccessTokenAuthenticator(
        verify=deps(VerifyAccessToken), live_sessions=deps.live_sessions
    )
    assert await authenticate(pair.access.token) is not None

    for step in ("account", "sessions", "audit", "account"):  # any order, any number of times
        await records[step].erase(person)
    await personal.shred(person)
    await records["account"].erase(person)  # also once the key is gone

    assert await authenticate(pair.access.token) is None
    assert await authenticate(other.access.token) is not None
    assert await records["account"].export(person) is None
    assert await records["sessions"].export(person) == []
    audit = _rows(await records["audit"].export(person))
    assert audit  # the chained entries stay, pseudonymous
    assert all(e["ip"] is None and e["user_agent"] is None for e in audit)
    naming = [
        line.split(":", 1)[0]
        for line in (await raw_database(owner_engine)).splitlines()
        if str(person) in line
    ]
    # The chain keeps the id; the key's tombstone keeps erasure final; events carry ids only.
    assert set(naming) <= {"audit_log", "person_keys", "outbox"}
    async with deps.uow(MAINTENANCE) as uow:
        assert await uow.users.by_email_key("stays@example.org") is not None
        assert await uow.users.get(UserId(uuid.UUID(str(person)))) is None
