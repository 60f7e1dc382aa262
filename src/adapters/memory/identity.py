"""In-memory store of the identity context: every identity repository and its unit of work,
for unit tests and for other services' tests.

`MemoryIdentityStore` is the "database"; each `MemoryIdentityUnitOfWork` works on a copy and
publishes it on commit. Units of work run one at a time (a store-wide lock), which is the
strongest isolation PostgreSQL could give and keeps the fakes simple.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from datetime import datetime

import attrs

from adapters.memory.outbox import MemoryOutbox
from adapters.memory.transaction import MemoryTransaction
from core.identity.model import (
    AuditChainCheck,
    AuditEntry,
    AuditQuery,
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
from core.identity.ports import (
    AuditLog,
    IdentityUnitOfWork,
    OneTimeTokenRepository,
    RecoveryCodeRepository,
    RefreshTokenRepository,
    SessionRepository,
    SigningKeyRepository,
    TotpRepository,
    UserRepository,
)
from core.shared.events import Event
from core.shared.ids import UserId
from core.shared.keyring import Keyring, Sealed, SealedSecrets
from core.shared.unit_of_work import Access

# --- the store and its unit of work ----------------------------------------------------------


@attrs.define
class IdentityState:
    users: dict[UserId, User] = attrs.field(factory=dict)
    one_time_tokens: dict[OneTimeTokenId, OneTimeToken] = attrs.field(factory=dict)
    sessions: dict[SessionId, Session] = attrs.field(factory=dict)
    refresh_tokens: dict[RefreshTokenId, RefreshToken] = attrs.field(factory=dict)
    totp: dict[UserId, TotpCredential] = attrs.field(factory=dict)
    # user -> code digest -> when it was used (None: unused)
    recovery_codes: dict[UserId, dict[str, datetime | None]] = attrs.field(factory=dict)
    signing_keys: dict[str, SigningKey] = attrs.field(factory=dict)
    audit: list[AuditEntry] = attrs.field(factory=list)
    outbox: list[Event] = attrs.field(factory=list)

    def copy(self) -> IdentityState:
        """Values are frozen, so copying the containers is a full snapshot."""
        return IdentityState(
            users=dict(self.users),
            one_time_tokens=dict(self.one_time_tokens),
            sessions=dict(self.sessions),
            refresh_tokens=dict(self.refresh_tokens),
            totp=dict(self.totp),
            recovery_codes={u: dict(codes) for u, codes in self.recovery_codes.items()},
            signing_keys=dict(self.signing_keys),
            audit=list(self.audit),
            outbox=list(self.outbox),
        )


class MemoryIdentityStore:
    """The committed state. Tests read `state` to check what a use case left behind."""

    def __init__(self) -> None:
        self.state = IdentityState()
        self._lock: asyncio.Lock | None = None

    def uow(self, access: Access) -> MemoryIdentityUnitOfWork:
        """A fresh unit of work: pass `store.uow` where an IdentityUnitOfWorkFactory goes.
        `access` is not enforced here: the use cases' own checks are the only wall."""
        return MemoryIdentityUnitOfWork(self)

    def _serial(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock


class MemoryIdentityUnitOfWork(MemoryTransaction, IdentityUnitOfWork):
    def __init__(self, store: MemoryIdentityStore) -> None:
        self._store = store
        self.state = IdentityState()
        self.users = MemoryUserRepository(self)
        self.one_time_tokens = MemoryOneTimeTokenRepository(self)
        self.sessions = MemorySessionRepository(self)
        self.refresh_tokens = MemoryRefreshTokenRepository(self)
        self.totp = MemoryTotpRepository(self)
        self.recovery_codes = MemoryRecoveryCodeRepository(self)
        self.signing_keys = MemorySigningKeyRepository(self)
        self.audit = MemoryAuditLog(self)
        self.outbox = MemoryOutbox()

    async def _begin(self) -> None:
        await self._store._serial().acquire()
        self.state = self._store.state.copy()

    def _discard(self) -> None:
        self.state = IdentityState()  # uncommitted changes are dropped
        self.outbox.drop()
        self._store._serial().release()

    async def commit(self) -> None:
        self.state.outbox.extend(self.outbox.take())
        self._store.state = self.state
        self.state = self.state.copy()


@attrs.frozen
class _Part:
    uow: MemoryIdentityUnitOfWork

    @property
    def s(self) -> IdentityState:
        return self.uow.state


class MemoryUserRepository(_Part, UserRepository):
    async def add(self, user: User) -> bool:
        if await self.by_email_key(user.email.key) is not None:
            return False
        self.s.users[user.id] = user
        return True

    async def get(self, user_id: UserId, *, lock: bool = False) -> User | None:
        return self.s.users.get(user_id)

    async def by_email_key(self, email_key: str) -> User | None:
        return next((u for u in self.s.users.values() if u.email.key == email_key), None)

    async def list_by_email(self, *, after: str | None, limit: int) -> Sequence[User]:
        ordered = sorted(self.s.users.values(), key=lambda u: u.email.key)
        return [u for u in ordered if after is None or u.email.key > after][:limit]

    async def save(self, user: User) -> None:
        self.s.users[user.id] = user


class MemoryOneTimeTokenRepository(_Part, OneTimeTokenRepository):
    async def add(self, token: OneTimeToken) -> None:
        self.s.one_time_tokens[token.id] = token

    async def find(self, token_hash: str, purpose: TokenPurpose) -> OneTimeToken | None:
        return next(
            (
                t
                for t in self.s.one_time_tokens.values()
                if t.token_hash == token_hash and t.purpose is purpose
            ),
            None,
        )

    async def consume(self, token_id: OneTimeTokenId, at: datetime) -> bool:
        token = self.s.one_time_tokens.get(token_id)
        if token is None or token.used_at is not None or at >= token.expires_at:
            return False
        self.s.one_time_tokens[token_id] = attrs.evolve(token, used_at=at)
        return True

    async def reserve_attempt(
        self, token_id: OneTimeTokenId, at: datetime, max_attempts: int
    ) -> bool:
        token = self.s.one_time_tokens.get(token_id)
        if token is None or not token.usable(at, max_attempts):
            return False
        self.s.one_time_tokens[token_id] = attrs.evolve(
            token, failed_attempts=token.failed_attempts + 1
        )
        return True

    async def discard_for_user(self, user_id: UserId, purpose: TokenPurpose, at: datetime) -> None:
        for token in list(self.s.one_time_tokens.values()):
            if token.user_id == user_id and token.purpose is purpose and token.used_at is None:
                self.s.one_time_tokens[token.id] = attrs.evolve(token, used_at=at)


class MemorySessionRepository(_Part, SessionRepository):
    async def add(self, session: Session) -> None:
        self.s.sessions[session.id] = session

    async def get(self, session_id: SessionId, *, lock: bool = False) -> Session | None:
        return self.s.sessions.get(session_id)

    async def save(self, session: Session) -> None:
        self.s.sessions[session.id] = session

    async def list_live(self, user_id: UserId, now: datetime) -> Sequence[Session]:
        live = [s for s in self.s.sessions.values() if s.user_id == user_id and s.is_live(now)]
        return sorted(live, key=lambda s: s.last_used_at, reverse=True)

    async def revoke_all(
        self, user_id: UserId, at: datetime, *, keep: SessionId | None = None
    ) -> Sequence[SessionId]:
        doomed = [
            s
            for s in self.s.sessions.values()
            if s.user_id == user_id and s.revoked_at is None and s.id != keep
        ]
        for session in doomed:
            self.s.sessions[session.id] = attrs.evolve(session, revoked_at=at)
            await self.uow.refresh_tokens.discard_seals(session.id, keep=None)
        return [session.id for session in doomed]


class MemoryRefreshTokenRepository(_Part, RefreshTokenRepository):
    async def add(self, token: RefreshToken) -> None:
        self.s.refresh_tokens[token.id] = token

    async def by_hash(self, token_hash: str) -> RefreshToken | None:
        return next((t for t in self.s.refresh_tokens.values() if t.token_hash == token_hash), None)

    async def get(self, token_id: RefreshTokenId) -> RefreshToken | None:
        return self.s.refresh_tokens.get(token_id)

    async def save(self, token: RefreshToken) -> None:
        self.s.refresh_tokens[token.id] = token

    async def discard_seals(self, session_id: SessionId, *, keep: RefreshTokenId | None) -> None:
        for token in list(self.s.refresh_tokens.values()):
            if token.session_id == session_id and token.id != keep and token.child_seal:
                self.s.refresh_tokens[token.id] = attrs.evolve(token, child_seal=None)

    async def discard_seals_rotated_before(self, at: datetime) -> int:
        stale = [
            t
            for t in self.s.refresh_tokens.values()
            if t.child_seal is not None and t.rotated_at is not None and t.rotated_at < at
        ]
        for token in stale:
            self.s.refresh_tokens[token.id] = attrs.evolve(token, child_seal=None)
        return len(stale)


class MemoryTotpRepository(_Part, TotpRepository):
    async def get(self, user_id: UserId) -> TotpCredential | None:
        return self.s.totp.get(user_id)

    async def save(self, credential: TotpCredential) -> None:
        self.s.totp[credential.user_id] = credential

    async def delete(self, user_id: UserId) -> None:
        self.s.totp.pop(user_id, None)

    async def use_step(self, user_id: UserId, step: int) -> bool:
        credential = self.s.totp.get(user_id)
        if credential is None:
            return False
        if credential.last_used_step is not None and step <= credential.last_used_step:
            return False
        self.s.totp[user_id] = attrs.evolve(credential, last_used_step=step)
        return True


class MemoryRecoveryCodeRepository(_Part, RecoveryCodeRepository):
    async def replace(self, user_id: UserId, code_hashes: Sequence[str], at: datetime) -> None:
        self.s.recovery_codes[user_id] = dict.fromkeys(code_hashes)

    async def consume(self, user_id: UserId, code_hash: str, at: datetime) -> bool:
        codes = self.s.recovery_codes.get(user_id, {})
        if code_hash not in codes or codes[code_hash] is not None:
            return False
        codes[code_hash] = at
        return True

    async def count_unused(self, user_id: UserId) -> int:
        return sum(1 for used in self.s.recovery_codes.get(user_id, {}).values() if used is None)

    async def delete_all(self, user_id: UserId) -> None:
        self.s.recovery_codes.pop(user_id, None)


class MemorySigningKeyRepository(_Part, SigningKeyRepository):
    async def active(self) -> SigningKey | None:
        return next((k for k in self.s.signing_keys.values() if k.retired_at is None), None)

    async def add_if_none_active(self, key: SigningKey) -> SigningKey:
        active = await self.active()
        if active is not None:
            return active
        self.s.signing_keys[key.kid] = key
        return key

    async def get(self, kid: str) -> SigningKey | None:
        return self.s.signing_keys.get(kid)

    async def retire_active(self, at: datetime) -> SigningKey | None:
        active = await self.active()
        if active is None:
            return None
        retired = attrs.evolve(active, retired_at=at)
        self.s.signing_keys[active.kid] = retired
        return retired

    async def verifying(self, retired_after: datetime) -> Sequence[SigningKey]:
        keys = [
            k
            for k in self.s.signing_keys.values()
            if k.retired_at is None or k.retired_at > retired_after
        ]
        return sorted(
            keys, key=lambda k: (k.retired_at is None, k.retired_at or k.created_at), reverse=True
        )


# Details that name or identify a person: an entry about nobody keeps none of them (nor its
# IP address and user agent), as in the PostGIS log, which seals them for the entry's person.
PERSONAL_DETAILS = frozenset({"email", "os_user"})


class MemoryAuditLog(_Part, AuditLog):
    async def append(self, entry: AuditEntry) -> None:
        if entry.subject_user_id is None and entry.actor_user_id is None:
            details = {k: v for k, v in entry.details.items() if k not in PERSONAL_DETAILS}
            entry = attrs.evolve(entry, ip=None, user_agent=None, details=details)
        self.s.audit.append(entry)

    async def query(self, query: AuditQuery) -> Sequence[AuditEntry]:
        def matches(e: AuditEntry) -> bool:
            return (
                (query.user_id is None or query.user_id in (e.actor_user_id, e.subject_user_id))
                and (query.action is None or e.action is query.action)
                and (query.since is None or e.at >= query.since)
                and (query.until is None or e.at < query.until)
            )

        # Newest first; entries of the same instant in reverse order of appending.
        found = sorted(filter(matches, reversed(self.s.audit)), key=lambda e: e.at, reverse=True)
        return found[: query.limit]

    async def verify_chain(self) -> AuditChainCheck:
        """A list in this process has no other writer to hide from: nothing to chain."""
        return AuditChainCheck(entries=len(self.s.audit), head=None)


# --- sealed values ---------------------------------------------------------------------------


@attrs.frozen
class MemorySealedSecrets(SealedSecrets):
    """The store keeps domain values, not sealed ones, except the tokens mailed through the
    outbox: those are what a KEK rotation re-wraps here."""

    store: MemoryIdentityStore
    keyring: Keyring

    async def rewrap_all(self) -> int:
        rewrapped = 0
        async with self.store._serial():
            outbox = self.store.state.outbox
            for index, event in enumerate(outbox):
                if "sealed_token" not in event.payload:
                    continue
                sealed = Sealed.from_bytes(base64.b64decode(event.payload["sealed_token"]))
                fresh = await self.keyring.rewrap(sealed)
                if fresh != sealed:
                    token = base64.b64encode(fresh.to_bytes()).decode()
                    outbox[index] = attrs.evolve(
                        event, payload={**event.payload, "sealed_token": token}
                    )
                    rewrapped += 1
        return rewrapped
