"""In-memory fakes of every identity port, for unit tests and for other services' tests.

`MemoryIdentityStore` is the "database"; each `MemoryIdentityUnitOfWork` works on a copy and
publishes it on commit. Units of work run one at a time (a store-wide lock), which is the
strongest isolation PostgreSQL could give and keeps the fakes simple.

The crypto fakes keep the ports' contracts (a sealed value opens only with its secret, a
token verifies only with its key) without being secure: never use them outside tests.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import secrets
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Self

import attrs

from adapters.memory.outbox import MemoryOutbox
from core.identity.model import (
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
    AccessTokenCodec,
    AuditLog,
    BreachedPasswords,
    IdentityUnitOfWork,
    NewSigningKey,
    OneTimeTokenRepository,
    PasswordHasher,
    QrRenderer,
    RateLimiter,
    RecoveryCodeRepository,
    RefreshTokenRepository,
    SessionRepository,
    SigningKeyFactory,
    SigningKeyRepository,
    Throttle,
    TokenSealer,
    TotpGenerator,
    TotpRepository,
    UserRepository,
)
from core.identity.throttling import ThrottlePolicy
from core.shared.events import Event
from core.shared.ids import UserId
from core.shared.time import Clock

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

    def uow(self) -> MemoryIdentityUnitOfWork:
        """A fresh unit of work: pass `store.uow` where an IdentityUnitOfWorkFactory goes."""
        return MemoryIdentityUnitOfWork(self)

    def _serial(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock


class MemoryIdentityUnitOfWork(IdentityUnitOfWork):
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

    async def __aenter__(self) -> Self:
        await self._store._serial().acquire()
        self.state = self._store.state.copy()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
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

    async def record_failed_attempt(self, token_id: OneTimeTokenId) -> None:
        token = self.s.one_time_tokens[token_id]
        self.s.one_time_tokens[token_id] = attrs.evolve(
            token, failed_attempts=token.failed_attempts + 1
        )

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
    ) -> int:
        doomed = [
            s
            for s in self.s.sessions.values()
            if s.user_id == user_id and s.revoked_at is None and s.id != keep
        ]
        for session in doomed:
            self.s.sessions[session.id] = attrs.evolve(session, revoked_at=at)
            await self.uow.refresh_tokens.discard_seals(session.id, keep=None)
        return len(doomed)


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


class MemoryAuditLog(_Part, AuditLog):
    async def append(self, entry: AuditEntry) -> None:
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


# --- crypto and rendering fakes --------------------------------------------------------------


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class FakePasswordHasher(PasswordHasher):
    """Fast salted SHA-256 tagged with a parameter `version`; counts verifications so tests
    can see that an unknown email still costs one."""

    def __init__(self, version: int = 1) -> None:
        self.version = version
        self.verifications = 0

    async def hash(self, password: str) -> str:
        salt = secrets.token_hex(8)
        return f"fake${self.version}${salt}${_sha(salt + password)}"

    async def verify(self, password_hash: str, password: str) -> bool:
        self.verifications += 1
        _, _, salt, digest = password_hash.split("$")
        return hmac.compare_digest(digest, _sha(salt + password))

    async def verify_dummy(self, password: str) -> None:
        self.verifications += 1

    def needs_rehash(self, password_hash: str) -> bool:
        return password_hash.split("$")[1] != str(self.version)


class FakeBreachedPasswords(BreachedPasswords):
    def __init__(self, passwords: Sequence[str] = ("password1234", "qwertyuiopasdf")) -> None:
        self._passwords = frozenset(p.casefold() for p in passwords)

    def contains(self, password: str) -> bool:
        return password.casefold() in self._passwords


class FakeSigningKeyFactory(SigningKeyFactory):
    """Symmetric "keys": the JWK carries the secret, which is fine only for a fake."""

    def __init__(self) -> None:
        self._serial = itertools.count(1)

    def generate(self) -> NewSigningKey:
        secret = secrets.token_hex(16)
        kid = f"fake-{next(self._serial)}-{secret[:6]}"
        return NewSigningKey(
            kid=kid, private_pem=secret, public_jwk={"kty": "oct", "kid": kid, "k": secret}
        )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


class FakeAccessTokenCodec(AccessTokenCodec):
    """`kid.payload.hmac` — readable, tamper-evident, not a JWT."""

    def encode(self, claims: Mapping[str, object], key: SigningKey) -> str:
        payload = _b64(json.dumps(claims, sort_keys=True).encode())
        return f"{key.kid}.{payload}.{self._mac(key.private_pem, payload)}"

    def key_id(self, token: str) -> str | None:
        parts = token.split(".")
        return parts[0] if len(parts) == 3 else None

    def decode(
        self, token: str, key: SigningKey, *, issuer: str, audience: str
    ) -> dict[str, object] | None:
        kid, payload, mac = token.split(".")
        if kid != key.kid or not hmac.compare_digest(mac, self._mac(key.public_jwk["k"], payload)):
            return None
        claims: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload))
        if claims.get("iss") != issuer or claims.get("aud") != audience:
            return None
        return claims

    @staticmethod
    def _mac(secret: str, payload: str) -> str:
        return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


class FakeTokenSealer(TokenSealer):
    """Opens only with the sealing secret (checked by digest); the plaintext is not hidden."""

    def seal(self, secret: str, plaintext: str) -> bytes:
        return json.dumps({"key": _sha(secret), "text": plaintext}).encode()

    def open(self, secret: str, sealed: bytes) -> str | None:
        box = json.loads(sealed)
        return str(box["text"]) if box["key"] == _sha(secret) else None


class FakeTotpGenerator(TotpGenerator):
    """Six-digit codes from SHA-256(secret:step); 30 s steps, one step of drift."""

    interval = 30

    def new_secret(self) -> str:
        return secrets.token_hex(10)

    def provisioning_uri(self, secret: str, *, account: str, issuer: str) -> str:
        return f"otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}"

    def matching_step(self, secret: str, code: str, at: datetime) -> int | None:
        current = self.step(at)
        for step in (current + 1, current, current - 1):
            if hmac.compare_digest(self.code_for_step(secret, step), code):
                return step
        return None

    def step(self, at: datetime) -> int:
        return int(at.timestamp()) // self.interval

    def code_at(self, secret: str, at: datetime) -> str:
        return self.code_for_step(secret, self.step(at))

    @staticmethod
    def code_for_step(secret: str, step: int) -> str:
        digest = hashlib.sha256(f"{secret}:{step}".encode()).digest()
        return f"{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"


class FakeQrRenderer(QrRenderer):
    def png(self, data: str) -> bytes:
        return b"\x89PNG fake " + data.encode()

    def svg(self, data: str) -> str:
        return f"<svg><!-- {data} --></svg>"


# --- throttling ------------------------------------------------------------------------------


@attrs.define
class _Failures:
    count: int
    last_at: datetime
    blocked_until: datetime | None = None

    def expired(self, now: datetime, policy: ThrottlePolicy) -> bool:
        latest = max(self.last_at, self.blocked_until or self.last_at)
        return now >= latest + policy.window


class MemoryThrottle(Throttle):
    def __init__(self, clock: Clock, policy: ThrottlePolicy | None = None) -> None:
        self._clock = clock
        self._policy = policy or ThrottlePolicy()
        self._keys: dict[str, _Failures] = {}

    async def retry_after(self, key: str) -> float | None:
        entry = self._keys.get(key)
        now = self._clock.now()
        if entry is None or entry.blocked_until is None or entry.blocked_until <= now:
            return None
        return (entry.blocked_until - now).total_seconds()

    async def record_failure(self, key: str) -> float | None:
        now = self._clock.now()
        entry = self._keys.get(key)
        if entry is None or entry.expired(now, self._policy):
            entry = _Failures(count=0, last_at=now)
        entry.count += 1
        entry.last_at = now
        block = self._policy.block_after(entry.count)
        if block is not None:
            entry.blocked_until = now + block
        self._keys[key] = entry
        return block.total_seconds() if block is not None else None

    async def reset(self, key: str) -> None:
        self._keys.pop(key, None)


class MemoryRateLimiter(RateLimiter):
    """Sliding log: the timestamps of accepted requests within the window."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}

    async def hit(self, key: str, limit: int, window_seconds: float) -> float | None:
        now = self._clock.now().timestamp()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - window_seconds:
            hits.popleft()
        if len(hits) >= limit:
            return hits[0] + window_seconds - now
        hits.append(now)
        return None
