"""One contract for the identity unit of work, run over the memory fake and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import attrs
import pytest
from identity_integration_support import START, Store

from core.identity.model import (
    Aal,
    AuditAction,
    AuditEntry,
    AuditQuery,
    Email,
    OneTimeToken,
    OneTimeTokenId,
    RefreshToken,
    RefreshTokenId,
    Session,
    SessionId,
    SigningKey,
    TokenPurpose,
    TotpCredential,
    User,
)
from core.shared.events import Event
from core.shared.ids import ProviderId, UserId
from core.shared.unit_of_work import MAINTENANCE

LATER = START + timedelta(minutes=5)
PROVIDER = ProviderId(uuid.uuid4())


def new_user(email: str = "Alice@Example.com") -> User:
    return User(
        id=UserId(uuid.uuid4()),
        email=Email.parse(email).unwrap(),
        password_hash="$argon2id$fake",
        created_at=START,
    )


def new_session(user: User, *, expires_in: timedelta = timedelta(days=1)) -> Session:
    return Session(
        id=SessionId(uuid.uuid4()),
        user_id=user.id,
        created_at=START,
        last_used_at=START,
        expires_at=START + expires_in,
        aal=Aal.AAL1,
        amr=("pwd",),
        user_agent="agent",
        ip="192.0.2.1",
    )


def new_refresh(session: Session, token_hash: str | None = None) -> RefreshToken:
    return RefreshToken(
        id=RefreshTokenId(uuid.uuid4()),
        session_id=session.id,
        token_hash=token_hash or uuid.uuid4().hex,
        parent_id=None,
        created_at=START,
        expires_at=START + timedelta(days=1),
    )


def new_key(kid: str) -> SigningKey:
    return SigningKey(
        kid=kid,
        private_pem="-----BEGIN PRIVATE KEY-----",
        public_jwk={"kty": "OKP", "kid": kid},
        created_at=START,
    )


async def add_user(store: Store, user: User) -> None:
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.users.add(user)
        await uow.commit()


# --- the unit of work ------------------------------------------------------------------------


async def test_changes_are_rolled_back_without_commit(store: Store) -> None:
    user = new_user()
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.users.add(user)
        await uow.outbox.add(Event(name="x", occurred_at=START, payload={}))
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.users.get(user.id) is None
    assert await store.outbox_ids() == set()


async def test_commit_persists_changes_and_outbox_rows_together(store: Store) -> None:
    user = new_user()
    event = Event(name="identity.test", occurred_at=START, payload={"user_id": str(user.id)})
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.users.add(user)
        await uow.outbox.add(event)
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.users.get(user.id) == user
    assert await store.outbox_ids() == {event.id}


async def test_an_exception_rolls_back(store: Store) -> None:
    user = new_user()

    async def fail_midway() -> None:
        async with store.uow(MAINTENANCE) as uow:
            await uow.users.add(user)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await fail_midway()
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.users.get(user.id) is None


# --- users -----------------------------------------------------------------------------------


async def test_user_round_trips_with_staff_roles(store: Store) -> None:
    user = new_user()
    await add_user(store, user)
    changed = attrs.evolve(
        user,
        password_hash="$argon2id$other",
        email_verified_at=LATER,
        is_admin=True,
        staff_of=frozenset({PROVIDER}),
        locked_at=LATER,
    )
    async with store.uow(MAINTENANCE) as uow:
        await uow.users.save(changed)
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.users.get(user.id, lock=True) == changed
        assert await uow.users.by_email_key("alice@example.com") == changed


async def test_email_is_unique_case_insensitively(store: Store) -> None:
    await add_user(store, new_user("Alice@Example.com"))
    async with store.uow(MAINTENANCE) as uow:
        assert not await uow.users.add(new_user("ALICE@example.COM"))
        assert await uow.users.add(new_user("alice2@example.com"))


async def test_unknown_users_are_none(store: Store) -> None:
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.users.get(UserId(uuid.uuid4())) is None
        assert await uow.users.by_email_key("nobody@example.com") is None


# --- one-time tokens -------------------------------------------------------------------------


def new_one_time(user: User, purpose: TokenPurpose = TokenPurpose.PASSWORD_RESET) -> OneTimeToken:
    return OneTimeToken(
        id=OneTimeTokenId(uuid.uuid4()),
        user_id=user.id,
        purpose=purpose,
        token_hash=uuid.uuid4().hex,
        created_at=START,
        expires_at=START + timedelta(minutes=30),
    )


async def stored_one_time(
    store: Store, purpose: TokenPurpose = TokenPurpose.PASSWORD_RESET
) -> OneTimeToken:
    """A one-time token of a new user, committed."""
    user = new_user()
    await add_user(store, user)
    token = new_one_time(user, purpose)
    async with store.uow(MAINTENANCE) as uow:
        await uow.one_time_tokens.add(token)
        await uow.commit()
    return token


async def test_one_time_token_is_found_by_hash_and_purpose_and_consumed_once(store: Store) -> None:
    token = await stored_one_time(store)
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.one_time_tokens.find(token.token_hash, token.purpose) == token
        assert await uow.one_time_tokens.find(token.token_hash, TokenPurpose.MFA_CHALLENGE) is None
        assert await uow.one_time_tokens.consume(token.id, LATER)
        assert not await uow.one_time_tokens.consume(token.id, LATER)
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        found = await uow.one_time_tokens.find(token.token_hash, token.purpose)
        assert found is not None
        assert found.used_at == LATER


async def test_expired_one_time_token_cannot_be_consumed(store: Store) -> None:
    user = new_user()
    await add_user(store, user)
    token = new_one_time(user)
    async with store.uow(MAINTENANCE) as uow:
        await uow.one_time_tokens.add(token)
        assert not await uow.one_time_tokens.consume(token.id, token.expires_at)


async def test_attempts_are_reserved_until_the_token_runs_out(store: Store) -> None:
    user = new_user()
    await add_user(store, user)
    token = new_one_time(user, TokenPurpose.MFA_CHALLENGE)
    async with store.uow(MAINTENANCE) as uow:
        await uow.one_time_tokens.add(token)
        reserve = uow.one_time_tokens.reserve_attempt
        assert [await reserve(token.id, LATER, 3) for _ in range(4)] == [True, True, True, False]
        found = await uow.one_time_tokens.find(token.token_hash, token.purpose)
        assert found is not None
        assert found.failed_attempts == 3


async def test_a_used_or_expired_token_admits_no_attempt(store: Store) -> None:
    user = new_user()
    await add_user(store, user)
    used, expiring = (new_one_time(user, TokenPurpose.MFA_CHALLENGE) for _ in range(2))
    async with store.uow(MAINTENANCE) as uow:
        await uow.one_time_tokens.add(used)
        await uow.one_time_tokens.add(expiring)
        assert await uow.one_time_tokens.consume(used.id, LATER)
        assert not await uow.one_time_tokens.reserve_attempt(used.id, LATER, 5)
        assert not await uow.one_time_tokens.reserve_attempt(expiring.id, expiring.expires_at, 5)


async def test_an_attempt_is_kept_on_commit_and_given_back_on_rollback(store: Store) -> None:
    token = await stored_one_time(store, TokenPurpose.MFA_CHALLENGE)
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.one_time_tokens.reserve_attempt(token.id, LATER, 5)  # rolled back
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.one_time_tokens.reserve_attempt(token.id, LATER, 5)
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        found = await uow.one_time_tokens.find(token.token_hash, token.purpose)
        assert found is not None
        assert found.failed_attempts == 1


async def test_concurrent_attempts_on_one_token_reserve_exactly_the_limit(store: Store) -> None:
    token = await stored_one_time(store, TokenPurpose.MFA_CHALLENGE)

    async def attempt() -> bool:
        async with store.uow(MAINTENANCE) as uow:
            reserved = await uow.one_time_tokens.reserve_attempt(token.id, LATER, 5)
            await asyncio.sleep(0.01)  # the code is checked while the others come in
            await uow.commit()
            return reserved

    results = await asyncio.gather(*(attempt() for _ in range(30)))

    assert sum(results) == 5


async def test_discard_for_user_uses_up_that_purpose_only(store: Store) -> None:
    user = new_user()
    await add_user(store, user)
    reset, verify = new_one_time(user), new_one_time(user, TokenPurpose.EMAIL_VERIFICATION)
    async with store.uow(MAINTENANCE) as uow:
        await uow.one_time_tokens.add(reset)
        await uow.one_time_tokens.add(verify)
        await uow.one_time_tokens.discard_for_user(user.id, TokenPurpose.PASSWORD_RESET, LATER)
        assert not await uow.one_time_tokens.consume(reset.id, LATER)
        assert await uow.one_time_tokens.consume(verify.id, LATER)


# --- sessions and refresh tokens -------------------------------------------------------------


async def test_session_round_trips_and_lists_live_ones_most_recent_first(store: Store) -> None:
    user = new_user()
    await add_user(store, user)
    older, newer, expired = new_session(user), new_session(user), new_session(user)
    async with store.uow(MAINTENANCE) as uow:
        for session in (older, newer, expired):
            await uow.sessions.add(session)
        await uow.sessions.save(attrs.evolve(newer, last_used_at=LATER))
        await uow.sessions.save(attrs.evolve(expired, expires_at=START + timedelta(minutes=1)))
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.sessions.get(older.id, lock=True) == older
        live = await uow.sessions.list_live(user.id, START + timedelta(minutes=2))
        assert [s.id for s in live] == [newer.id, older.id]


async def test_revoke_all_keeps_one_and_drops_their_seals(store: Store) -> None:
    user = new_user()
    await add_user(store, user)
    keep, other = new_session(user), new_session(user)
    sealed = attrs.evolve(new_refresh(other), rotated_at=START, child_seal=b"sealed")
    async with store.uow(MAINTENANCE) as uow:
        await uow.sessions.add(keep)
        await uow.sessions.add(other)
        await uow.refresh_tokens.add(sealed)
        assert await uow.sessions.revoke_all(user.id, LATER, keep=keep.id) == [other.id]
        assert await uow.sessions.revoke_all(user.id, LATER, keep=keep.id) == []
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert (await uow.sessions.get(keep.id)).revoked_at is None
        assert (await uow.sessions.get(other.id)).revoked_at == LATER
        token = await uow.refresh_tokens.get(sealed.id)
        assert token is not None
        assert token.child_seal is None


async def test_refresh_tokens_round_trip_and_seals_are_discarded(store: Store) -> None:
    user = new_user()
    await add_user(store, user)
    session = new_session(user)
    parent = new_refresh(session)
    child = attrs.evolve(new_refresh(session), parent_id=parent.id)
    rotated = attrs.evolve(parent, rotated_at=LATER, child_id=child.id, child_seal=b"\x00seal")
    async with store.uow(MAINTENANCE) as uow:
        await uow.sessions.add(session)
        await uow.refresh_tokens.add(parent)
        await uow.refresh_tokens.add(child)
        await uow.refresh_tokens.save(rotated)
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.refresh_tokens.by_hash(parent.token_hash) == rotated
        assert await uow.refresh_tokens.get(child.id) == child
        assert await uow.refresh_tokens.by_hash("nope") is None
        await uow.refresh_tokens.discard_seals(session.id, keep=parent.id)
        assert (await uow.refresh_tokens.get(parent.id)).child_seal == b"\x00seal"
        assert await uow.refresh_tokens.discard_seals_rotated_before(LATER) == 0
        assert await uow.refresh_tokens.discard_seals_rotated_before(LATER + timedelta(1)) == 1
        assert (await uow.refresh_tokens.get(parent.id)).child_seal is None


# --- MFA -------------------------------------------------------------------------------------


async def test_totp_credential_upserts_and_steps_only_move_forward(store: Store) -> None:
    user = new_user()
    await add_user(store, user)
    pending = TotpCredential(user_id=user.id, secret="SECRET", created_at=START)
    async with store.uow(MAINTENANCE) as uow:
        await uow.totp.save(pending)
        active = attrs.evolve(pending, confirmed_at=LATER, last_used_step=100)
        await uow.totp.save(active)
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.totp.get(user.id) == active
        assert not await uow.totp.use_step(user.id, 100)
        assert not await uow.totp.use_step(user.id, 99)
        assert await uow.totp.use_step(user.id, 101)
        assert not await uow.totp.use_step(user.id, 101)
        await uow.totp.delete(user.id)
        assert await uow.totp.get(user.id) is None
        assert not await uow.totp.use_step(user.id, 500)


async def test_recovery_codes_are_replaced_and_consumed_once(store: Store) -> None:
    user, other = new_user(), new_user("bob@example.com")
    await add_user(store, user)
    await add_user(store, other)
    async with store.uow(MAINTENANCE) as uow:
        await uow.recovery_codes.replace(user.id, ["a", "b", "c"], START)
        await uow.recovery_codes.replace(user.id, ["d", "e"], START)
        assert await uow.recovery_codes.count_unused(user.id) == 2
        assert not await uow.recovery_codes.consume(user.id, "a", LATER)
        assert not await uow.recovery_codes.consume(other.id, "d", LATER)
        assert await uow.recovery_codes.consume(user.id, "d", LATER)
        assert not await uow.recovery_codes.consume(user.id, "d", LATER)
        assert await uow.recovery_codes.count_unused(user.id) == 1
        await uow.recovery_codes.delete_all(user.id)
        assert await uow.recovery_codes.count_unused(user.id) == 0


# --- signing keys ----------------------------------------------------------------------------


async def test_only_one_key_is_active_and_rotation_keeps_retired_ones_verifying(
    store: Store,
) -> None:
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.signing_keys.active() is None
        first = await uow.signing_keys.add_if_none_active(new_key("k1"))
        assert first.kid == "k1"
        assert (await uow.signing_keys.add_if_none_active(new_key("k2"))).kid == "k1"
        retired = await uow.signing_keys.retire_active(LATER)
        assert retired is not None
        assert retired.retired_at == LATER
        assert (await uow.signing_keys.add_if_none_active(new_key("k3"))).kid == "k3"
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert [k.kid for k in await uow.signing_keys.verifying(START)] == ["k3", "k1"]
        assert [k.kid for k in await uow.signing_keys.verifying(LATER)] == ["k3"]
        assert await uow.signing_keys.get("k2") is None
        key = await uow.signing_keys.get("k1")
        assert key is not None
        assert key.public_jwk == {"kty": "OKP", "kid": "k1"}


# --- audit -----------------------------------------------------------------------------------


async def test_audit_entries_are_queried_by_user_action_and_time(store: Store) -> None:
    alice, bob = UserId(uuid.uuid4()), UserId(uuid.uuid4())
    entries = [
        AuditEntry(
            at=START,
            action=AuditAction.LOGIN_SUCCEEDED,
            actor_user_id=alice,
            subject_user_id=alice,
            ip="192.0.2.1",
            user_agent="ua",
            details={"aal": "aal1"},
        ),
        AuditEntry(
            at=START + timedelta(minutes=1),
            action=AuditAction.ROLE_GRANTED,
            actor_user_id=bob,
            subject_user_id=alice,
            details={"role": "staff"},
        ),
        AuditEntry(
            at=START + timedelta(minutes=2),
            action=AuditAction.LOGIN_FAILED,
            actor_user_id=None,
            subject_user_id=alice,
            ip="192.0.2.2",
            details={"email": "alice@example.com", "reason": "password"},
        ),
    ]
    async with store.uow(MAINTENANCE) as uow:
        for entry in entries:
            await uow.audit.append(entry)
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        audit = uow.audit
        assert await audit.query(AuditQuery()) == entries[::-1]
        assert await audit.query(AuditQuery(user_id=bob)) == [entries[1]]
        assert await audit.query(AuditQuery(user_id=alice)) == entries[::-1]
        assert await audit.query(AuditQuery(action=AuditAction.LOGIN_FAILED)) == [entries[2]]
        window = AuditQuery(since=entries[1].at, until=entries[2].at)
        assert await audit.query(window) == [entries[1]]
        assert await audit.query(AuditQuery(limit=2)) == entries[:0:-1]


async def test_an_audit_entry_about_nobody_keeps_nothing_personal(store: Store) -> None:
    """A failed login for an address no account has: whose key could seal what was typed?"""
    anonymous = AuditEntry(
        at=START,
        action=AuditAction.LOGIN_FAILED,
        actor_user_id=None,
        subject_user_id=None,
        ip="192.0.2.3",
        user_agent="ua",
        details={"email": "x@example.com", "os_user": "eve", "reason": "password"},
    )
    async with store.uow(MAINTENANCE) as uow:
        await uow.audit.append(anonymous)
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        found = await uow.audit.query(AuditQuery())

    assert found == [
        attrs.evolve(anonymous, ip=None, user_agent=None, details={"reason": "password"})
    ]


async def test_concurrent_units_of_work_are_isolated(store: Store) -> None:
    user = new_user()

    async def add_without_commit() -> None:
        async with store.uow(MAINTENANCE) as uow:
            await uow.users.add(user)
            await asyncio.sleep(0.01)

    async def look() -> None:
        async with store.uow(MAINTENANCE) as uow:
            assert await uow.users.get(user.id) is None

    await asyncio.gather(add_without_commit(), look())
