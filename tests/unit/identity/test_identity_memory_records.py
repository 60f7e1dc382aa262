"""Identity's PersonalRecords over the memory store (the fake the privacy use cases' unit tests
use): the same sections and erasure as the PostGIS ones (tests/integration/identity)."""

from __future__ import annotations

from typing import Any, cast

from identity_support import CLIENT, EMAIL, enable_mfa, login, make_env, register

from adapters.memory.identity_records import memory_identity_records
from core.consent.records import Json
from core.identity import AccessTokenAuthenticator, VerifyAccessToken


def _rows(section: Json) -> list[dict[str, Any]]:
    assert isinstance(section, list)
    return [cast(dict[str, Any], row) for row in section]


async def test_export_then_erase_twice() -> None:
    env = make_env()
    person = await register(env)
    pair = await login(env)
    await enable_mfa(env, person, pair)
    other = await register(env, "other@example.com")
    records = {r.section: r for r in memory_identity_records(env.store, env.deps.live_sessions)}
    authenticate = AccessTokenAuthenticator(
        verify=env.deps(VerifyAccessToken), live_sessions=env.deps.live_sessions
    )

    account = await records["account"].export(person)
    sessions = _rows(await records["sessions"].export(person))
    audit = _rows(await records["audit"].export(person))
    assert isinstance(account, dict)
    assert (account["email"], account["mfa_enabled"]) == (
        EMAIL.split("@")[0] + "@example.com",
        True,
    )
    assert [(s["ip"], s["user_agent"]) for s in sessions] == [(CLIENT.ip, CLIENT.user_agent)]
    assert {e["action"] for e in audit} >= {"login.succeeded", "mfa.enrolled"}

    for _ in range(2):
        await records["account"].erase(person)

    assert await records["account"].export(person) is None
    assert await records["sessions"].export(person) == []
    kept = _rows(await records["audit"].export(person))
    assert kept
    assert all(e["ip"] is None and e["user_agent"] is None for e in kept)
    assert await authenticate(pair.access.token) is None
    assert other in env.store.state.users
