"""In-memory fakes of the identity context's security ports: password hashing, breached
passwords, signing keys and access tokens, token sealing, TOTP, QR codes, and throttling.

The crypto fakes keep the ports' contracts (a sealed value opens only with its secret, a
token verifies only with its key) without being secure: never use them outside tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import secrets
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import attrs

from core.identity.model import SigningKey
from core.identity.ports import (
    AccessTokenCodec,
    Blocked,
    BreachedPasswords,
    NewSigningKey,
    PasswordHasher,
    QrRenderer,
    RateLimiter,
    Reservation,
    SigningKeyFactory,
    Throttle,
    TokenSealer,
    TotpGenerator,
)
from core.identity.throttling import ThrottlePolicy
from core.shared.time import Clock


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

    async def contains(self, password: str) -> bool:
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
class _Attempts:
    """One key's attempts in the current window: the reservations still counted (kept
    failures and attempts in flight) and the block, with what to restore if the reservation
    that started it is given back."""

    last_at: datetime
    counted: set[str] = attrs.field(factory=set)
    blocked_until: datetime | None = None
    blocker: str | None = None
    before: datetime | None = None

    def expired(self, now: datetime, policy: ThrottlePolicy) -> bool:
        latest = max(self.last_at, self.blocked_until or self.last_at)
        return now >= latest + policy.window

    def wait(self, now: datetime) -> timedelta | None:
        if self.blocked_until is None or self.blocked_until <= now:
            return None
        return self.blocked_until - now


class MemoryThrottle(Throttle):
    """The Throttle rules on dicts; one event loop makes every call atomic."""

    def __init__(self, clock: Clock, policy: ThrottlePolicy | None = None) -> None:
        self._clock = clock
        self._policy = policy or ThrottlePolicy()
        self._keys: dict[str, _Attempts] = {}

    async def reserve(self, keys: Sequence[str]) -> Reservation | Blocked:
        now = self._clock.now()
        for key in keys:
            entry = self._keys.get(key)
            if entry is not None and entry.expired(now, self._policy):
                del self._keys[key]
        waits = [w for key in keys if key in self._keys and (w := self._keys[key].wait(now))]
        if waits:
            return Blocked(retry_after=max(waits).total_seconds())
        reservation = Reservation(id=uuid.uuid4().hex, keys=tuple(keys))
        for key in keys:
            entry = self._keys.setdefault(key, _Attempts(last_at=now))
            entry.counted.add(reservation.id)
            entry.last_at = now
            block = self._policy.block_after(len(entry.counted))
            if block is not None:
                entry.blocker, entry.before = reservation.id, entry.blocked_until
                entry.blocked_until = now + block
        return reservation

    async def release(self, reservation: Reservation) -> None:
        for key in reservation.keys:
            entry = self._keys.get(key)
            if entry is None or reservation.id not in entry.counted:
                continue  # reset or forgotten since
            entry.counted.remove(reservation.id)
            if entry.blocker == reservation.id:
                entry.blocked_until, entry.blocker, entry.before = entry.before, None, None
            if not entry.counted:
                del self._keys[key]

    async def reset(self, key: str) -> None:
        self._keys.pop(key, None)

    async def retry_after(self, key: str) -> float | None:
        """For tests: seconds until `key` admits an attempt, None if it does now."""
        entry = self._keys.get(key)
        wait = entry.wait(self._clock.now()) if entry is not None else None
        return wait.total_seconds() if wait is not None else None


class MemoryRateLimiter(RateLimiter):
    """Fixed windows, each opened by the first request after the previous one ended: the
    Redis limiter's contract in one process (where no permit is ever left unspent)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}  # key: (window end, requests in it)

    async def hit(self, key: str, limit: int, window_seconds: float) -> float | None:
        now = self._clock.now().timestamp()
        ends_at, used = self._windows.get(key, (now, 0))
        if now >= ends_at:
            ends_at, used = now + window_seconds, 0
        if used >= limit:
            return ends_at - now
        self._windows[key] = (ends_at, used + 1)
        return None
