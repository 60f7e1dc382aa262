"""The common-password blocklist shipped with the service; no network at run time.

Two breach-derived lists, read once at import and compared casefolded:
- the 30,000 most common passwords of the `zxcvbn` package (its `passwords` frequency list,
  compiled from leaked corpora): nearly all shorter than 12 characters, they matter when an
  operator lowers the minimum and as stems ("Password" in "Password123!");
- data/breached-12plus.txt.gz: every password of 12+ characters (after NFKC) among the top
  million of SecLists' 10-million leaked-password list, most common first (43,940 of them), the
  ones our length rule alone would accept. tools/build_breached_passwords.py builds it; ADR 12
  says where it comes from.
"""

from __future__ import annotations

import gzip
from importlib import resources

from zxcvbn.frequency_lists import FREQUENCY_LISTS  # type: ignore[import-untyped]

from core.identity.ports import BreachedPasswords

LONG_BREACHED = "breached-12plus.txt.gz"


def _long_breached() -> list[str]:
    packed = resources.files(__package__).joinpath("data", LONG_BREACHED).read_bytes()
    return gzip.decompress(packed).decode("utf-8").splitlines()


_COMMON: frozenset[str] = frozenset(
    p.casefold() for p in [*FREQUENCY_LISTS["passwords"], *_long_breached()]
)


class BundledBreachedPasswords(BreachedPasswords):
    async def contains(self, password: str) -> bool:
        return password.casefold() in _COMMON

    def __len__(self) -> int:
        return len(_COMMON)
