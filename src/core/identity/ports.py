"""Ports the identity context needs. Adapters subclass these Protocols explicitly.

Repositories are only reachable through an `IdentityUnitOfWork`: every read and write of one
use-case call happens in one transaction, which the use case commits explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

import attrs

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
from core.shared.ids import UserId
from core.shared.unit_of_work import UnitOfWork

# --- repositories ----------------------------------------------------------------------------


class UserRepository(Protocol):
    async def add(self, user: User) -> bool:
        """Insert; False (and no change) when the email key is already taken, even by a
        concurrent transaction. The database's unique index decides, not a prior lookup."""
        ...

    async def get(self, user_id: UserId, *, lock: bool = False) -> User | None:
        """`lock=True` holds the row until the transaction ends (SELECT ... FOR UPDATE)."""
        ...

    async def by_email_key(self, email_key: str) -> User | None: ...

    async def list_by_email(self, *, after: str | None, limit: int) -> Sequence[User]:
        """At most `limit` users ordered by email key, starting after the key `after`."""
        ...

    async def save(self, user: User) -> None:
        """Update an existing user, including its staff memberships."""
        ...


class OneTimeTokenRepository(Protocol):
    async def add(self, token: OneTimeToken) -> None: ...

    async def find(self, token_hash: str, purpose: TokenPurpose) -> OneTimeToken | None: ...

    async def consume(self, token_id: OneTimeTokenId, at: datetime) -> bool:
        """Mark used if still unused and unexpired at `at`; atomic, so only one caller wins."""
        ...

    async def record_failed_attempt(self, token_id: OneTimeTokenId) -> None: ...

    async def discard_for_user(self, user_id: UserId, purpose: TokenPurpose, at: datetime) -> None:
        """Mark every unused token of this purpose used (e.g. older reset links after a reset)."""
        ...


class SessionRepository(Protocol):
    async def add(self, session: Session) -> None: ...

    async def get(self, session_id: SessionId, *, lock: bool = False) -> Session | None:
        """`lock=True` serialises every refresh and revocation of the family (FOR UPDATE)."""
        ...

    async def save(self, session: Session) -> None: ...

    async def list_live(self, user_id: UserId, now: datetime) -> Sequence[Session]:
        """Unrevoked, unexpired sessions, most recently used first."""
        ...

    async def revoke_all(
        self, user_id: UserId, at: datetime, *, keep: SessionId | None = None
    ) -> int:
        """Revoke every live session of the user except `keep`; returns how many."""
        ...


class RefreshTokenRepository(Protocol):
    async def add(self, token: RefreshToken) -> None: ...

    async def by_hash(self, token_hash: str) -> RefreshToken | None: ...

    async def get(self, token_id: RefreshTokenId) -> RefreshToken | None: ...

    async def save(self, token: RefreshToken) -> None: ...

    async def discard_seals(self, session_id: SessionId, *, keep: RefreshTokenId | None) -> None:
        """Drop every sealed child of the family except on `keep`."""
        ...

    async def discard_seals_rotated_before(self, at: datetime) -> int:
        """Drop seals whose grace window ended; returns how many."""
        ...


class TotpRepository(Protocol):
    async def get(self, user_id: UserId) -> TotpCredential | None: ...

    async def save(self, credential: TotpCredential) -> None:
        """Insert or replace the user's credential."""
        ...

    async def delete(self, user_id: UserId) -> None: ...

    async def use_step(self, user_id: UserId, step: int) -> bool:
        """Record `step` as used if it is later than the last used one; atomic, so a code is
        accepted at most once even by concurrent requests."""
        ...


class RecoveryCodeRepository(Protocol):
    async def replace(self, user_id: UserId, code_hashes: Sequence[str], at: datetime) -> None:
        """Forget the user's old codes and store these."""
        ...

    async def consume(self, user_id: UserId, code_hash: str, at: datetime) -> bool:
        """Mark the code used if it is the user's and unused; atomic."""
        ...

    async def count_unused(self, user_id: UserId) -> int: ...

    async def delete_all(self, user_id: UserId) -> None: ...


class SigningKeyRepository(Protocol):
    async def active(self) -> SigningKey | None: ...

    async def add_if_none_active(self, key: SigningKey) -> SigningKey:
        """Make `key` the active key unless another one is; returns the active key."""
        ...

    async def get(self, kid: str) -> SigningKey | None: ...

    async def retire_active(self, at: datetime) -> SigningKey | None:
        """Retire the active key (if any) and return it as retired."""
        ...

    async def verifying(self, retired_after: datetime) -> Sequence[SigningKey]:
        """The active key, then keys retired after `retired_after`, latest retired first."""
        ...


class AuditLog(Protocol):
    """Append-only: the store refuses updates and deletes."""

    async def append(self, entry: AuditEntry) -> None: ...

    async def query(self, query: AuditQuery) -> Sequence[AuditEntry]:
        """Matching entries, newest first, at most `query.limit`."""
        ...

    async def verify_chain(self) -> AuditChainCheck:
        """Walk the hash chain from the first entry; report the first gap, edit or break."""
        ...


class IdentityUnitOfWork(UnitOfWork, Protocol):
    users: UserRepository
    one_time_tokens: OneTimeTokenRepository
    sessions: SessionRepository
    refresh_tokens: RefreshTokenRepository
    totp: TotpRepository
    recovery_codes: RecoveryCodeRepository
    signing_keys: SigningKeyRepository
    audit: AuditLog


# --- cryptography and rendering --------------------------------------------------------------


class PasswordHasher(Protocol):
    """Hashes NFKC-normalised passwords (core normalises before calling).

    Hashing is deliberately slow, so the calls are async: adapters run it off the event loop.
    """

    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool: ...

    async def verify_dummy(self, password: str) -> None:
        """Spend the same work as `verify` against a hash nobody has: unknown emails then take
        as long to reject as wrong passwords."""
        ...

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters than the current ones."""
        ...


class BreachedPasswords(Protocol):
    def contains(self, password: str) -> bool:
        """Whether the (normalised) password is on the list, ignoring case."""
        ...


@attrs.frozen(kw_only=True)
class NewSigningKey:
    kid: str
    private_pem: str = attrs.field(repr=False)
    public_jwk: Mapping[str, str]


class SigningKeyFactory(Protocol):
    def generate(self) -> NewSigningKey: ...


class AccessTokenCodec(Protocol):
    """Signs and verifies access tokens (JWS with a `kid` header)."""

    def encode(self, claims: Mapping[str, object], key: SigningKey) -> str: ...

    def key_id(self, token: str) -> str | None:
        """The unverified `kid` header, to pick the key; None if the token is malformed."""
        ...

    def decode(
        self, token: str, key: SigningKey, *, issuer: str, audience: str
    ) -> dict[str, object] | None:
        """Claims if signature, issuer and audience check out; expiry is the caller's job
        (it owns the clock). None otherwise."""
        ...


class TokenSealer(Protocol):
    """Authenticated encryption keyed by a high-entropy secret (a parent refresh token)."""

    def seal(self, secret: str, plaintext: str) -> bytes: ...

    def open(self, secret: str, sealed: bytes) -> str | None:
        """The plaintext, or None if `secret` is not the one it was sealed with."""
        ...


class TotpGenerator(Protocol):
    def new_secret(self) -> str:
        """A fresh shared secret (base32, 160 bits)."""
        ...

    def provisioning_uri(self, secret: str, *, account: str, issuer: str) -> str:
        """An otpauth:// URI for authenticator apps."""
        ...

    def matching_step(self, secret: str, code: str, at: datetime) -> int | None:
        """The time step (within the allowed drift around `at`) whose code equals `code`."""
        ...


class QrRenderer(Protocol):
    def png(self, data: str) -> bytes: ...

    def svg(self, data: str) -> str: ...


# --- throttling ------------------------------------------------------------------------------


class Throttle(Protocol):
    """Failure counting with growing back-off, per key (`login:acct:<email>`, `login:ip:<ip>`).

    After the allowed number of failures within the window, the key is blocked for a period
    that doubles with every further failure, up to a cap. Concurrent calls count exactly.
    """

    async def retry_after(self, key: str) -> float | None:
        """Seconds until the key may try again, or None if it may try now."""
        ...

    async def record_failure(self, key: str) -> float | None:
        """Count a failure; returns the block in seconds if this failure started one."""
        ...

    async def reset(self, key: str) -> None: ...


class RateLimiter(Protocol):
    """Sliding-window request limiting for the API."""

    async def hit(self, key: str, limit: int, window_seconds: float) -> float | None:
        """Count a request; None if it is within `limit` per `window_seconds`, otherwise the
        seconds until one is allowed (refused requests are not counted)."""
        ...
