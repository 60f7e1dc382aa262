"""The consent ledger's use cases over the in-memory store, and its properties (Hypothesis):
the state after any sequence of decisions is the last decision per key, a withdrawal wins over
every earlier grant, and a policy that asks for fresh consent makes earlier grants stale."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from returns.result import Failure, Success

from adapters.memory.clock import FixedClock
from adapters.memory.consent import MemoryConsentDatabase
from core.consent import (
    Channel,
    CheckConsent,
    CookieCategory,
    Decision,
    GetPolicy,
    GrantConsent,
    ListCookieCategories,
    ListMyConsents,
    MergeAnonymousConsents,
    Method,
    NoPolicyPublished,
    NotWithdrawable,
    PolicyKind,
    PublishPolicy,
    Purpose,
    RecordCookieChoices,
    StalePolicyVersion,
    Subject,
    WithdrawConsent,
    parse_anonymous_id,
    wording_hash,
)
from core.shared.errors import Forbidden, InvalidInput, NotFound
from core.shared.ids import UserId
from core.shared.principal import MfaRequired, Principal, Role

NOW = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)
ADMIN = Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.ADMIN}), mfa=True)


def _person() -> Principal:
    return Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.CUSTOMER}))


class World:
    def __init__(self) -> None:
        self.db = MemoryConsentDatabase()
        self.clock = FixedClock(NOW)
        ports: dict[str, Any] = {"uow": self.db, "clock": self.clock}
        self.grant = GrantConsent(**ports)
        self.withdraw = WithdrawConsent(**ports)
        self.list = ListMyConsents(**ports)
        self.check = CheckConsent(**ports)
        self.publish = PublishPolicy(**ports)
        self.get_policy = GetPolicy(**ports)
        self.cookies = RecordCookieChoices(**ports)
        self.merge = MergeAnonymousConsents(**ports)

    async def policies(self, *, fresh: bool = False) -> None:
        for kind in PolicyKind:
            text = f"{kind} policy, {self.clock.now().isoformat()}"
            assert isinstance(
                await self.publish(ADMIN, kind, text, requires_fresh_consent=fresh), Success
            )

    def tick(self) -> None:
        self.clock.advance(timedelta(seconds=1))


@pytest.fixture
async def world() -> World:
    w = World()
    await w.policies()
    return w


async def test_a_grant_then_a_withdrawal_takes_effect_at_once(world: World) -> None:
    ana = _person()
    me = Subject.user(ana.user_id)
    assert not await world.check(me, Purpose.MARKETING, Channel.EMAIL)
    granted = (await world.grant(ana, Purpose.MARKETING, Channel.EMAIL)).unwrap()
    assert granted.policy_version == 1
    assert granted.wording_hash == wording_hash("privacy policy, " + NOW.isoformat())
    assert granted.method is Method.API
    assert await world.check.granted(me, Purpose.MARKETING, Channel.EMAIL)
    world.tick()
    await world.withdraw(ana, Purpose.MARKETING, Channel.EMAIL)
    assert not await world.check(me, Purpose.MARKETING, Channel.EMAIL)
    overview = (await world.list(ana)).unwrap()
    assert [e.decision for e in overview.history] == [Decision.GRANTED, Decision.WITHDRAWN]
    assert [e.seq for e in overview.history] == [1, 2]
    assert [(s.key.purpose, s.granted) for s in overview.current] == [(Purpose.MARKETING, False)]


async def test_transactional_email_cannot_be_withdrawn_and_always_passes(world: World) -> None:
    ana = _person()
    refused = await world.withdraw(ana, Purpose.TRANSACTIONAL, Channel.EMAIL)
    assert isinstance(refused, Failure)
    assert isinstance(refused.failure(), NotWithdrawable)
    assert "close the account" in refused.failure().detail
    me = Subject.user(ana.user_id)
    assert await world.check(me, Purpose.TRANSACTIONAL, Channel.EMAIL)
    assert not await world.check(me, Purpose.TRANSACTIONAL, Channel.WHATSAPP)


async def test_a_grant_needs_a_published_policy_a_withdrawal_does_not() -> None:
    w = World()
    ana = _person()
    refused = await w.grant(ana, Purpose.MARKETING, Channel.EMAIL)
    assert isinstance(refused, Failure)
    assert isinstance(refused.failure(), NoPolicyPublished)
    withdrawn = (await w.withdraw(ana, Purpose.MARKETING, Channel.EMAIL)).unwrap()
    assert withdrawn.policy_version is None


async def test_the_wording_shown_is_recorded_and_an_old_version_refused(world: World) -> None:
    ana = _person()
    shown = wording_hash("Send me offers by WhatsApp")
    entry = (await world.grant(ana, Purpose.MARKETING, Channel.WHATSAPP, shown_hash=shown)).unwrap()
    assert entry.wording_hash == shown
    bad = await world.grant(ana, Purpose.MARKETING, Channel.WHATSAPP, shown_hash="nope")
    assert isinstance(bad.failure(), InvalidInput)
    await world.publish(ADMIN, PolicyKind.PRIVACY, "v2", requires_fresh_consent=False)
    old = await world.grant(ana, Purpose.MARKETING, Channel.WHATSAPP, shown_version=1)
    assert old.failure() == StalePolicyVersion(kind="privacy", current=2)


async def test_only_admins_record_for_others(world: World) -> None:
    ana, ben = _person(), _person()
    refused = await world.grant(ben, Purpose.MARKETING, Channel.EMAIL, user=ana.user_id)
    assert isinstance(refused.failure(), Forbidden)
    no_mfa = Principal(user_id=ADMIN.user_id, roles=ADMIN.roles)
    refused = await world.grant(no_mfa, Purpose.MARKETING, Channel.EMAIL, user=ana.user_id)
    assert isinstance(refused.failure(), MfaRequired)
    entry = (
        await world.grant(
            ADMIN, Purpose.REMINDERS, Channel.WHATSAPP, user=ana.user_id, method=Method.CLI
        )
    ).unwrap()
    assert entry.key.subject == Subject.user(ana.user_id)
    assert entry.method is Method.CLI
    assert isinstance((await world.list(ben, user=ana.user_id)).failure(), Forbidden)
    assert len((await world.list(ADMIN, user=ana.user_id)).unwrap().history) == 1


async def test_a_fresh_consent_policy_makes_earlier_grants_stale(world: World) -> None:
    ana = _person()
    me = Subject.user(ana.user_id)
    await world.grant(ana, Purpose.MARKETING, Channel.EMAIL)
    await world.grant(ana, Purpose.ANALYTICS, Channel.WEB)
    world.tick()
    await world.publish(ADMIN, PolicyKind.PRIVACY, "v2", requires_fresh_consent=True)
    assert not await world.check(me, Purpose.MARKETING, Channel.EMAIL)
    assert await world.check(me, Purpose.ANALYTICS, Channel.WEB)  # the cookie policy did not change
    state = await world.check.state(me, Purpose.MARKETING, Channel.EMAIL)
    assert state is not None
    assert state.stale
    world.tick()
    await world.grant(ana, Purpose.MARKETING, Channel.EMAIL)
    assert await world.check(me, Purpose.MARKETING, Channel.EMAIL)


async def test_publishing_is_for_admins_and_versions_count_up(world: World) -> None:
    refused = await world.publish(_person(), PolicyKind.COOKIES, "x", requires_fresh_consent=False)
    assert isinstance(refused.failure(), Forbidden)
    bad = await world.publish(ADMIN, PolicyKind.COOKIES, "a\x00b", requires_fresh_consent=False)
    assert isinstance(bad.failure(), InvalidInput)
    bidi = await world.publish(ADMIN, PolicyKind.COOKIES, "a\u202eb", requires_fresh_consent=False)
    assert isinstance(bidi.failure(), InvalidInput)
    text = "# Cookies\n\nWe use\tfew."
    v2 = (
        await world.publish(ADMIN, PolicyKind.COOKIES, text, requires_fresh_consent=True)
    ).unwrap()
    assert v2.version == 2
    assert v2.text_hash == wording_hash(text)
    assert (await world.get_policy(PolicyKind.COOKIES)).unwrap() == v2
    assert (await world.get_policy(PolicyKind.COOKIES, 1)).unwrap().version == 1
    assert isinstance((await world.get_policy(PolicyKind.COOKIES, 9)).failure(), NotFound)


async def test_cookie_categories_necessary_is_always_on() -> None:
    categories = await ListCookieCategories()()
    assert [c.category for c in categories] == list(CookieCategory)
    assert [c.always_on for c in categories] == [True, False, False, False]


async def test_cookie_choices_mint_an_id_and_merge_at_login_once(world: World) -> None:
    choices = (
        await world.cookies(None, {CookieCategory.ANALYTICS: True, CookieCategory.MARKETING: False})
    ).unwrap()
    browser = choices.anonymous_id
    assert isinstance(parse_anonymous_id(browser), Success)
    assert choices.granted == {
        CookieCategory.NECESSARY: True,
        CookieCategory.PREFERENCES: False,
        CookieCategory.ANALYTICS: True,
        CookieCategory.MARKETING: False,
    }
    anonymous = Subject.anonymous(browser)
    assert await world.check(anonymous, Purpose.ANALYTICS, Channel.WEB)
    # The same choices again append nothing.
    await world.cookies(browser, {CookieCategory.ANALYTICS: True})
    assert len(world.db.entries) == 2
    refused = await world.cookies(browser, {CookieCategory.NECESSARY: False})
    assert isinstance(refused.failure(), InvalidInput)

    world.tick()
    ana = _person()
    merged = (await world.merge(ana, browser)).unwrap()
    assert {(e.key.purpose, e.decision, e.method) for e in merged} == {
        (Purpose.ANALYTICS, Decision.GRANTED, Method.MERGED),
        (Purpose.MARKETING, Decision.WITHDRAWN, Method.MERGED),
    }
    assert all(e.merged_from == browser for e in merged)
    assert await world.check(Subject.user(ana.user_id), Purpose.ANALYTICS, Channel.WEB)
    world.tick()
    assert (await world.merge(ana, browser)).unwrap() == ()  # idempotent


async def test_a_users_later_decision_wins_over_an_older_anonymous_choice(world: World) -> None:
    browser = (await world.cookies(None, {CookieCategory.ANALYTICS: True})).unwrap().anonymous_id
    world.tick()
    ana = _person()
    await world.withdraw(ana, Purpose.ANALYTICS, Channel.WEB)
    world.tick()
    assert (await world.merge(ana, browser)).unwrap() == ()
    assert not await world.check(Subject.user(ana.user_id), Purpose.ANALYTICS, Channel.WEB)


def test_anonymous_ids_are_validated() -> None:
    assert isinstance(parse_anonymous_id("anon_" + "a" * 32), Success)
    for bad in ("", "anon_short", "anon_" + "a" * 31 + "\x00", "x" * 37, "anon_" + "é" * 32):
        assert isinstance(parse_anonymous_id(bad), Failure)


# ---------------------------------------------------------------- properties

_PURPOSES = st.sampled_from([p for p in Purpose if p is not Purpose.TRANSACTIONAL])
_CHANNELS = st.sampled_from(Channel)
_STEPS = st.lists(
    st.tuples(st.integers(0, 1), _PURPOSES, _CHANNELS, st.sampled_from(Decision)),
    min_size=1,
    max_size=25,
)


def _run_steps(
    steps: list[tuple[int, Purpose, Channel, Decision]],
) -> tuple[World, list[Principal]]:
    async def run() -> tuple[World, list[Principal]]:
        w = World()
        await w.policies()
        people = [_person(), _person()]
        for who, purpose, channel, decision in steps:
            use = w.grant if decision is Decision.GRANTED else w.withdraw
            assert isinstance(await use(people[who], purpose, channel), Success)
            if who:  # time does not always move: seq orders decisions made in one instant
                w.tick()
        return w, people

    return asyncio.run(run())


@settings(max_examples=60, deadline=None)
@given(_STEPS)
def test_the_state_is_the_last_decision_per_key(
    steps: list[tuple[int, Purpose, Channel, Decision]],
) -> None:
    w, people = _run_steps(steps)
    last: dict[tuple[int, Purpose, Channel], Decision] = {}
    for who, purpose, channel, decision in steps:
        last[(who, purpose, channel)] = decision

    async def answers() -> dict[tuple[int, Purpose, Channel], bool]:
        return {
            key: await w.check(Subject.user(people[key[0]].user_id), key[1], key[2]) for key in last
        }

    assert asyncio.run(answers()) == {k: d is Decision.GRANTED for k, d in last.items()}
    overview = asyncio.run(w.list(people[0])).unwrap()
    assert {(s.key.purpose, s.key.channel): s.entry.decision for s in overview.current} == {
        (p, c): d for (who, p, c), d in last.items() if who == 0
    }


@settings(max_examples=60, deadline=None)
@given(_STEPS, _PURPOSES, _CHANNELS)
def test_a_withdrawal_wins_over_every_earlier_grant(
    steps: list[tuple[int, Purpose, Channel, Decision]], purpose: Purpose, channel: Channel
) -> None:
    withdrawn = [*steps, (0, purpose, channel, Decision.WITHDRAWN)]
    w, people = _run_steps(withdrawn)
    assert not asyncio.run(w.check(Subject.user(people[0].user_id), purpose, channel))


@settings(max_examples=40, deadline=None)
@given(_STEPS, st.sampled_from(PolicyKind))
def test_a_fresh_consent_policy_leaves_no_grant_standing(
    steps: list[tuple[int, Purpose, Channel, Decision]], kind: PolicyKind
) -> None:
    w, people = _run_steps(steps)

    async def after() -> list[bool]:
        await w.publish(ADMIN, kind, "new terms", requires_fresh_consent=True)
        states = [s for p in people for s in (await w.list(p)).unwrap().current]
        return [s.granted for s in states if s.entry.policy_kind is kind]

    assert not any(asyncio.run(after()))
