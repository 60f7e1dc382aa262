"""The common-password blocklist: the 30,000 most common passwords that ship with the
`zxcvbn` package (its `passwords` frequency list, compiled from leaked password corpora).
Read once at import; no network at run time."""

from __future__ import annotations

from zxcvbn.frequency_lists import FREQUENCY_LISTS  # type: ignore[import-untyped]

from core.identity.ports import BreachedPasswords

# zxcvbn's list is lowercase; comparing casefolded also catches "PassWord123"-style variants.
_COMMON: frozenset[str] = frozenset(p.casefold() for p in FREQUENCY_LISTS["passwords"])


class ZxcvbnBreachedPasswords(BreachedPasswords):
    def contains(self, password: str) -> bool:
        return password.casefold() in _COMMON

    def __len__(self) -> int:
        return len(_COMMON)
