"""Ports the identity context needs. Adapters subclass these Protocols explicitly.

Repositories are only reachable through an `IdentityUnitOfWork`: every read and write of one
use-case call happens in one transaction, which the use case commits explicitly.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
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
        """At most `limit` users, starting after the user whose email key is `after`, in an
        order of email keys that is the store's (alphabetical, or that of their keyed hashes
        where addresses are sealed): following the last key of each page reads every user
        once."""
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

    async def reserve_attempt(
        self, token_id: OneTimeTokenId, at: datetime, max_attempts: int
    ) -> bool:
        """Count one attempt (`failed_attempts`) if the token is unused, unexpired at `at` and
        has fewer than `max_attempts`; False otherwise. Atomic, and the token stays locked
        until the transaction ends, so concurrent attempts queue and each sees the count:
        committing keeps the attempt, rolling back gives it back."""
        ...

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
    ) -> Sequence[SessionId]:
        """Revoke every unrevoked session of the user except `keep`; returns their ids."""
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


# --- live sessions ---------------------------------------------------------------------------


class LiveSessions(Protocol):
    """Whether an access token may still act, shared by every API process: a fast store that
    every authenticated request asks once (ASVS V7.4.1: access ends when the session does).

    It remembers two facts, each for at least MAX_ACCESS_TTL (as long as any access token
    lives), then forgets them because every token they concern has expired:
    - a session ended: every token of it (claim `sid`) is refused;
    - a user's authorization changed (roles, lock, second factor): the user gets a new epoch,
      and every token issued under an older one (claim `epoch`) is refused. The client then
      refreshes, and the new token carries the new roles.

    Writers call it around their commit and let its errors propagate: a request that cannot
    record an ending fails (503) instead of leaving tokens alive while answering success.
    """

    async def epoch(self, user_id: UserId) -> str | None:
        """The user's current epoch, for a token about to be issued; None if the user's
        authorization has not changed within MAX_ACCESS_TTL."""
        ...

    async def is_live(self, user_id: UserId, session_id: SessionId, epoch: str | None) -> bool:
        """False if the session ended or the user's epoch is not the token's `epoch` (None
        matches only while the user has no epoch). One round trip to the store."""
        ...

    async def end(self, user_id: UserId, session_ids: Collection[SessionId]) -> None:
        """Refuse every token of these sessions (all the user's) from now on."""
        ...

    async def new_epoch(self, user_id: UserId) -> None:
        """Refuse every token of the user issued before now."""
        ...


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
    async def contains(self, password: str) -> bool:
        """Whether the (normalised) password is known from breaches or too common to allow.

        A list compares ignoring case; a service may ask over the network, and then decides
        itself what an outage means (see the adapter)."""
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


@attrs.frozen(kw_only=True)
class Reservation:
    """An attempt counted against its keys before its outcome is known (see `Throttle`)."""

    id: str
    keys: tuple[str, ...]


@attrs.frozen(kw_only=True)
class Blocked:
    """A key of the attempt is blocked: nothing was counted; try again in `retry_after` s."""

    retry_after: float


class Throttle(Protocol):
    """Attempt counting with growing back-off, per key (`login:acct:<email>`, `login:ip:<ip>`).

    An attempt is reserved BEFORE its secret is checked: `reserve` counts it as a failure
    against all its keys in one atomic step, unless one of them is blocked. The caller then
    checks the secret and, if the attempt must not count after all (a right secret, a weak new
    password), gives it back with `release`; a wrong secret keeps it, and so does a crash.
    Attempts in flight therefore count against the limit like failures, and concurrent
    attempts can never get more checks than the same attempts one after another.

    The `max_failures`-th counted attempt in a window blocks the key for `base_block`, every
    further one doubles the block up to `max_block` (`ThrottlePolicy`); a blocked key admits
    nothing. Counts are forgotten once `window` passes after the last attempt (or after the
    block it started, if that ends later).
    """

    async def reserve(self, keys: Sequence[str]) -> Reservation | Blocked:
        """Count an attempt against every key, or Blocked (the longest wait) if one is."""
        ...

    async def release(self, reservation: Reservation) -> None:
        """Give the attempt back on every key it still counts on (not after a `reset` or a
        quiet window), and lift the block it started, if any."""
        ...

    async def reset(self, key: str) -> None:
        """Forget the key's count and block (a right secret proves the account's owner)."""
        ...


class RateLimiter(Protocol):
    """Request limiting for the API: fixed windows, each opened by a key's first request
    after the previous one ended, admitting at most `limit` requests (fewer when spread over
    processes: see the Redis adapter)."""

    async def hit(self, key: str, limit: int, window_seconds: float) -> float | None:
        """Count a request; None if it is within `limit` in the key's window, otherwise the
        seconds until its window ends (refused requests are not counted)."""
        ...
