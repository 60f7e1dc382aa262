"""A state machine over refresh-token families (memory fakes, fake clock).

The model keeps every raw token each family ever issued and predicts each refresh: rotation
for the current token, the current token again for its parent within the grace window, family
revocation for any other reuse, refusal once a family is revoked or expired.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import attrs
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from identity_support import CLIENT, EMAIL, NO_IP, PASSWORD, make_env
from returns.result import Failure, Success

from core.identity import Login, Refresh, Register, RevokeAllSessions, RevokeSession
from core.identity.common import TokenPair
from core.identity.errors import InvalidRefreshToken, RefreshTokenReused
from core.identity.model import SessionId, token_digest
from core.identity.settings import IdentitySettings

GRACE = timedelta(seconds=10)
SETTINGS = IdentitySettings(
    refresh_grace=GRACE, refresh_ttl=timedelta(hours=1), session_max_age=timedelta(hours=3)
)


@attrs.define
class Family:
    session_id: SessionId
    created_at: datetime
    tokens: list[str]  # every raw token issued, oldest first; the last one is current
    current_issued_at: datetime
    parent_rotated_at: datetime | None = None
    revoked: bool = False

    @property
    def current(self) -> str:
        return self.tokens[-1]

    @property
    def parent(self) -> str | None:
        return self.tokens[-2] if len(self.tokens) > 1 else None

    def session_expired(self, now: datetime) -> bool:
        return now >= self.created_at + SETTINGS.session_max_age

    def current_expired(self, now: datetime) -> bool:
        expiry = min(
            self.current_issued_at + SETTINGS.refresh_ttl,
            self.created_at + SETTINGS.session_max_age,
        )
        return now >= expiry

    def in_grace(self, now: datetime) -> bool:
        return self.parent_rotated_at is not None and now < self.parent_rotated_at + GRACE


class RefreshFamilies(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.env = make_env(SETTINGS)
        self.families: list[Family] = []
        self.run(self.env.deps(Register)(email=EMAIL, password=PASSWORD))
        self.user_id = next(iter(self.env.store.state.users))

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.loop.close()

    @property
    def now(self) -> datetime:
        return self.env.clock.now()

    def family(self, index: int) -> Family:
        return self.families[index % len(self.families)]

    def refresh(self, token: str) -> Any:
        return self.run(self.env.deps(Refresh)(refresh_token=token, client=NO_IP))

    def expect_refused(self, family: Family, result: Any) -> None:
        assert result == Failure(InvalidRefreshToken()), (family, result)

    # --- rules ---------------------------------------------------------------------------------

    @precondition(lambda self: len(self.families) < 4)
    @rule()
    def login(self) -> None:
        pair = self.run(
            self.env.deps(Login)(email=EMAIL, password=PASSWORD, client=CLIENT)
        ).unwrap()
        assert isinstance(pair, TokenPair)
        self.families.append(
            Family(
                session_id=pair.session_id,
                created_at=self.now,
                tokens=[pair.refresh_token],
                current_issued_at=self.now,
            )
        )

    @precondition(lambda self: self.families)
    @rule(index=st.integers(min_value=0))
    def refresh_current(self, index: int) -> None:
        family = self.family(index)
        result = self.refresh(family.current)
        if family.revoked or family.session_expired(self.now) or family.current_expired(self.now):
            self.expect_refused(family, result)
            return
        assert isinstance(result, Success), result
        new = result.unwrap().refresh_token
        assert new not in family.tokens
        family.tokens.append(new)
        family.parent_rotated_at = family.current_issued_at = self.now

    @precondition(lambda self: any(len(f.tokens) > 1 for f in self.families))
    @rule(index=st.integers(min_value=0), generation=st.integers(min_value=0))
    def reuse_old_token(self, index: int, generation: int) -> None:
        family = next(
            f
            for f in self.families[index % len(self.families) :] + self.families
            if len(f.tokens) > 1
        )
        old = family.tokens[generation % (len(family.tokens) - 1)]
        result = self.refresh(old)
        if family.revoked or family.session_expired(self.now):
            self.expect_refused(family, result)
        elif old == family.parent and family.in_grace(self.now):
            assert result.unwrap().refresh_token == family.current
        else:
            assert result == Failure(RefreshTokenReused())
            family.revoked = True

    @precondition(
        lambda self: any(
            f.in_grace(self.now) and not f.revoked and not f.session_expired(self.now)
            for f in self.families
        )
    )
    @rule()
    def grace_window_reuse(self) -> None:
        family = next(
            f
            for f in self.families
            if f.in_grace(self.now) and not f.revoked and not f.session_expired(self.now)
        )
        assert family.parent is not None
        result = self.refresh(family.parent)
        assert isinstance(result, Success), result
        assert result.unwrap().refresh_token == family.current
        assert result.unwrap().session_id == family.session_id

    @precondition(lambda self: self.families)
    @rule(index=st.integers(min_value=0))
    def logout(self, index: int) -> None:
        family = self.family(index)
        result = self.run(
            self.env.deps(RevokeSession)(user_id=self.user_id, session_id=family.session_id)
        )
        assert result == Success(None)
        family.revoked = True

    @precondition(lambda self: self.families)
    @rule()
    def revoke_all(self) -> None:
        self.run(self.env.deps(RevokeAllSessions)(user_id=self.user_id))
        for family in self.families:
            family.revoked = True

    @rule(
        by=st.sampled_from(
            [timedelta(seconds=s) for s in (1, 4, 9, 10, 11)] + [timedelta(minutes=50)]
        )
    )
    def advance_time(self, by: timedelta) -> None:
        self.env.clock.advance(by)

    @precondition(lambda self: any(f.revoked for f in self.families))
    @rule(index=st.integers(min_value=0), generation=st.integers(min_value=0))
    def revoked_family_refuses_every_token(self, index: int, generation: int) -> None:
        revoked = [f for f in self.families if f.revoked]
        family = revoked[index % len(revoked)]
        self.expect_refused(family, self.refresh(family.tokens[generation % len(family.tokens)]))

    # --- invariants ----------------------------------------------------------------------------

    @invariant()
    def at_most_one_live_token_per_family(self) -> None:
        state = self.env.store.state
        for session in state.sessions.values():
            live = [
                t
                for t in state.refresh_tokens.values()
                if t.session_id == session.id
                and t.rotated_at is None
                and self.now < t.expires_at
                and session.is_live(self.now)
            ]
            assert len(live) <= 1

    @invariant()
    def the_live_token_is_the_models_current_one(self) -> None:
        state = self.env.store.state
        for family in self.families:
            session = state.sessions[family.session_id]
            assert (session.revoked_at is not None) == family.revoked
            unrotated = [
                t
                for t in state.refresh_tokens.values()
                if t.session_id == family.session_id and t.rotated_at is None
            ]
            assert [t.token_hash for t in unrotated] == [token_digest(family.current)]


RefreshFamilies.TestCase.settings = settings(
    max_examples=150, stateful_step_count=30, deadline=None
)
TestRefreshFamilies = RefreshFamilies.TestCase
