"""The consent store's contract, on the memory fake and on PostGIS: the same use cases give
the same answers; concurrent decisions on one key keep a consistent ledger."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from returns.result import Success

from adapters.memory.clock import FixedClock
from core.consent import (
    Channel,
    CheckConsent,
    CookieCategory,
    Decision,
    GetPolicy,
    GrantConsent,
    ListMyConsents,
    MergeAnonymousConsents,
    Method,
    PolicyKind,
    PublishPolicy,
    Purpose,
    RecordCookieChoices,
    Subject,
    WithdrawConsent,
)
from core.shared.ids import UserId
from core.shared.principal import Principal, Role

NOW = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)
ADMIN = Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.ADMIN}), mfa=True)


def _person() -> Principal:
    return Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.CUSTOMER}))


def _ports(store: Any) -> dict[str, Any]:
    return {"uow": store, "clock": FixedClock(NOW)}


async def _publish(store: Any, *, fresh: bool = False) -> None:
    publish = PublishPolicy(**_ports(store))
    for kind in PolicyKind:
        await publish(ADMIN, kind, f"{kind} text", requires_fresh_consent=fresh)


async def test_decisions_history_and_policies(store: Any) -> None:
    ports = _ports(store)
    await _publish(store)
    ana = _person()
    me = Subject.user(ana.user_id)
    check = CheckConsent(**ports)
    await GrantConsent(**ports)(ana, Purpose.MARKETING, Channel.EMAIL)
    assert await check.granted(me, Purpose.MARKETING, Channel.EMAIL)
    await WithdrawConsent(**ports)(ana, Purpose.MARKETING, Channel.EMAIL, method=Method.API)
    assert not await check.granted(me, Purpose.MARKETING, Channel.EMAIL)
    overview = (await ListMyConsents(**ports)(ana)).unwrap()
    assert [(e.seq, e.decision) for e in overview.history] == [
        (1, Decision.GRANTED),
        (2, Decision.WITHDRAWN),
    ]
    # Another person sees none of it.
    assert (await ListMyConsents(**ports)(_person())).unwrap().history == ()

    await PublishPolicy(**ports)(ADMIN, PolicyKind.PRIVACY, "v2", requires_fresh_consent=True)
    await GrantConsent(**ports)(ana, Purpose.ANALYTICS, Channel.EMAIL)
    current = (await GetPolicy(**ports)(PolicyKind.PRIVACY)).unwrap()
    assert (current.version, current.requires_fresh_consent) == (2, True)
    assert (await GetPolicy(**ports)(PolicyKind.PRIVACY, 1)).unwrap().text == "privacy text"
    assert await check.granted(me, Purpose.ANALYTICS, Channel.EMAIL)


async def test_a_fresh_consent_policy_makes_grants_stale(store: Any) -> None:
    ports = _ports(store)
    await _publish(store)
    ana = _person()
    await GrantConsent(**ports)(ana, Purpose.REMINDERS, Channel.WHATSAPP)
    await PublishPolicy(**ports)(ADMIN, PolicyKind.PRIVACY, "v2", requires_fresh_consent=True)
    state = await CheckConsent(**ports).state(
        Subject.user(ana.user_id), Purpose.REMINDERS, Channel.WHATSAPP
    )
    assert state is not None
    assert state.stale
    assert not state.granted


async def test_cookie_choices_and_merge(store: Any) -> None:
    ports = _ports(store)
    await _publish(store)
    choices = (
        await RecordCookieChoices(**ports)(
            None, {CookieCategory.ANALYTICS: True, CookieCategory.PREFERENCES: False}
        )
    ).unwrap()
    browser = choices.anonymous_id
    check = CheckConsent(**ports)
    assert await check.granted(Subject.anonymous(browser), Purpose.ANALYTICS, Channel.WEB)
    ports["clock"].set(datetime(2030, 5, 1, 9, 5, tzinfo=UTC))
    ana = _person()
    merge = MergeAnonymousConsents(**ports)
    assert len((await merge(ana, browser)).unwrap()) == 2
    assert (await merge(ana, browser)).unwrap() == ()
    assert await check.granted(Subject.user(ana.user_id), Purpose.ANALYTICS, Channel.WEB)


async def test_concurrent_decisions_on_one_key_keep_a_consistent_ledger(store: Any) -> None:
    ports = _ports(store)
    await _publish(store)
    ana = _person()
    grant, withdraw = GrantConsent(**ports), WithdrawConsent(**ports)

    async def decide(n: int) -> Any:
        use = grant if n % 2 else withdraw
        return await use(ana, Purpose.MARKETING, Channel.WHATSAPP)

    results = await asyncio.gather(*(decide(n) for n in range(100)))
    assert all(isinstance(r, Success) for r in results)
    seqs = sorted(r.unwrap().seq for r in results)
    assert seqs == list(range(1, 101))
    history = (await ListMyConsents(**ports)(ana)).unwrap()
    assert len(history.history) == 100
    last = max(history.history, key=lambda e: e.seq)
    assert [s.entry for s in history.current] == [last]
    state = await CheckConsent(**ports).state(
        Subject.user(ana.user_id), Purpose.MARKETING, Channel.WHATSAPP
    )
    assert state is not None
    assert state.entry == last
