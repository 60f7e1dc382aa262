"""Tunables of the identity context; the defaults are the production values."""

from __future__ import annotations

from datetime import timedelta

import attrs

from core.identity.password_policy import PasswordPolicy

MAX_ACCESS_TTL = timedelta(minutes=15)


def _access_ttl_allowed(_: object, __: attrs.Attribute[timedelta], value: timedelta) -> None:
    if not timedelta(0) < value <= MAX_ACCESS_TTL:
        raise ValueError("access tokens live at most 15 minutes")


def _positive(_: object, attribute: attrs.Attribute[timedelta], value: timedelta) -> None:
    if value <= timedelta(0):
        raise ValueError(f"{attribute.name} must be positive")


@attrs.frozen(kw_only=True)
class IdentitySettings:
    issuer: str = "reserva"
    audience: str = "reserva-api"
    access_ttl: timedelta = attrs.field(
        default=timedelta(minutes=10), validator=_access_ttl_allowed
    )
    # A refresh token unused this long expires; a session never outlives session_max_age.
    refresh_ttl: timedelta = attrs.field(default=timedelta(days=14), validator=_positive)
    session_max_age: timedelta = attrs.field(default=timedelta(days=90), validator=_positive)
    # Two tabs refreshing with the same token at once both get the same child within this window.
    refresh_grace: timedelta = attrs.field(default=timedelta(seconds=10), validator=_positive)
    email_verification_ttl: timedelta = attrs.field(
        default=timedelta(hours=48), validator=_positive
    )
    password_reset_ttl: timedelta = attrs.field(default=timedelta(minutes=30), validator=_positive)
    mfa_challenge_ttl: timedelta = attrs.field(default=timedelta(minutes=5), validator=_positive)
    mfa_challenge_max_attempts: int = 5
    totp_issuer: str = "Reserva"
    recovery_code_count: int = 10
    password_policy: PasswordPolicy = attrs.field(factory=PasswordPolicy)
