"""Password rules after NIST SP 800-63B: length and a blocklist, no composition rules.

Passwords are NFKC-normalised first, so the same password typed on different keyboards (composed
or decomposed accents, full-width digits) hashes the same. Lengths count code points after that.
"""

from __future__ import annotations

import re
import unicodedata

import attrs
from returns.result import Failure, Result, Success

from core.identity.model import Email
from core.identity.ports import BreachedPasswords, PasswordHasher
from core.shared.errors import DomainError

ABSOLUTE_MIN_LENGTH = 8
REQUIRED_MAX_AT_LEAST = 64
ABSOLUTE_MAX_LENGTH = 1024
EMAIL_LOCAL_PART_MIN = 3  # shorter local parts ("jo") occur in too many good passwords
# What people append to a listed password to pass a length rule ("Password123!"): cracking
# rules try exactly that first, so a listed password plus only digits and symbols is listed.
_DECORATION = re.compile(r"[\d\W_]+\Z")


@attrs.frozen
class PasswordRejected(DomainError):
    """Base of the password rules' failures; each subclass names the rule."""


@attrs.frozen
class PasswordTooShort(PasswordRejected):
    min_length: int

    @property
    def detail(self) -> str:
        return f"password must have at least {self.min_length} characters"


@attrs.frozen
class PasswordTooLong(PasswordRejected):
    max_length: int

    @property
    def detail(self) -> str:
        return f"password must have at most {self.max_length} characters"


@attrs.frozen
class PasswordTooCommon(PasswordRejected):
    @property
    def detail(self) -> str:
        return (
            "password is on a list of common or breached passwords, or is one of them "
            "with only digits or symbols added"
        )


@attrs.frozen
class PasswordContainsEmail(PasswordRejected):
    @property
    def detail(self) -> str:
        return "password must not contain your email address"


@attrs.frozen
class Password:
    """A password that passed the policy, NFKC-normalised: what gets hashed and verified."""

    text: str = attrs.field(repr=False)


def normalise(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw)


def _min_length_allowed(_: object, __: attrs.Attribute[int], value: int) -> None:
    if value < ABSOLUTE_MIN_LENGTH:
        raise ValueError(f"min_length may not be below {ABSOLUTE_MIN_LENGTH}")


def _max_length_allowed(_: object, __: attrs.Attribute[int], value: int) -> None:
    if not REQUIRED_MAX_AT_LEAST <= value <= ABSOLUTE_MAX_LENGTH:
        raise ValueError(f"max_length must be {REQUIRED_MAX_AT_LEAST}..{ABSOLUTE_MAX_LENGTH}")


@attrs.frozen(kw_only=True)
class PasswordPolicy:
    min_length: int = attrs.field(default=12, validator=_min_length_allowed)
    max_length: int = attrs.field(default=ABSOLUTE_MAX_LENGTH, validator=_max_length_allowed)

    async def check(
        self, raw: str, *, email: Email, breached: BreachedPasswords
    ) -> Result[Password, PasswordRejected]:
        """Rules in order: length, contains the email's local part, common/breached list."""
        text = normalise(raw)
        if len(text) < self.min_length:
            return Failure(PasswordTooShort(self.min_length))
        if len(text) > self.max_length:
            return Failure(PasswordTooLong(self.max_length))
        local = normalise(email.local_part).casefold()
        if len(local) >= EMAIL_LOCAL_PART_MIN and local in text.casefold():
            return Failure(PasswordContainsEmail())
        if await is_listed(text, breached):
            return Failure(PasswordTooCommon())
        return Success(Password(text))

    async def check_and_hash(
        self, raw: str, *, email: Email, breached: BreachedPasswords, hasher: PasswordHasher
    ) -> Result[str, PasswordRejected]:
        """`check` a new password and, if it passes, the hash of its normalised text."""
        checked = await self.check(raw, email=email, breached=breached)
        if isinstance(checked, Failure):
            return Failure(checked.failure())
        return Success(await hasher.hash(checked.unwrap().text))


async def is_listed(text: str, breached: BreachedPasswords) -> bool:
    """On the list as it is, or as a listed password with digits and symbols appended."""
    if await breached.contains(text):
        return True
    stem = _DECORATION.sub("", text)
    return bool(stem) and stem != text and await breached.contains(stem)
