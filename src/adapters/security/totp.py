"""TOTP (RFC 6238) with pyotp: 30 s steps, SHA-1, 6 digits, one step of drift either way."""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp

from core.identity.ports import TotpGenerator


class PyotpTotpGenerator(TotpGenerator):
    def __init__(self, *, digits: int = 6, interval: int = 30, drift_steps: int = 1) -> None:
        self._digits = digits
        self._interval = interval
        self._drift = drift_steps

    def new_secret(self) -> str:
        return pyotp.random_base32(length=32)  # 160 bits, the RFC 4226 recommendation

    def provisioning_uri(self, secret: str, *, account: str, issuer: str) -> str:
        return self._totp(secret).provisioning_uri(name=account, issuer_name=issuer)

    def matching_step(self, secret: str, code: str, at: datetime) -> int | None:
        if len(code) != self._digits or not code.isdigit():
            return None
        totp = self._totp(secret)
        current = int(at.timestamp()) // self._interval
        matches = [
            step
            for step in range(current - self._drift, current + self._drift + 1)
            if hmac.compare_digest(totp.generate_otp(step), code)
        ]
        return matches[-1] if matches else None

    def code_at(self, secret: str, at: datetime) -> str:
        """The code an authenticator app shows at `at` (for tests and tooling)."""
        return str(self._totp(secret).at(at))

    def _totp(self, secret: str) -> pyotp.TOTP:
        return pyotp.TOTP(secret, digits=self._digits, interval=self._interval)
