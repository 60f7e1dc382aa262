"""Have I Been Pwned's Pwned Passwords range API, asked after the bundled list.

k-anonymity: only the first 5 hex digits of the password's SHA-1 leave the process; the
service answers every suffix it knows under that prefix ("SUFFIX:COUNT" lines) and the match is
made here. `Add-Padding: true` makes every answer a similar size (padding lines count 0), so
the answer's length does not hint at the prefix either.

Fail open: when the service is slow or down, the password is judged by the bundled list alone
and the outage is logged. Registration and password changes keep working, and the bundled list
already refuses the most common passwords; failing closed would hand an outside service the
power to stop every sign-up.
"""

from __future__ import annotations

import hashlib

import httpx
import structlog

from core.identity.ports import BreachedPasswords

PREFIX_LENGTH = 5
TIMEOUT_SECONDS = 2.0

_log = structlog.get_logger(__name__)


class HibpBreachedPasswords(BreachedPasswords):
    def __init__(
        self,
        api_url: str,
        bundled: BreachedPasswords,
        *,
        timeout_seconds: float = TIMEOUT_SECONDS,
    ) -> None:
        self._range_url = api_url.rstrip("/") + "/range/"
        self._bundled = bundled
        self._timeout = httpx.Timeout(timeout_seconds)

    async def contains(self, password: str) -> bool:
        if await self._bundled.contains(password):
            return True
        digest = hashlib.sha1(password.encode(), usedforsecurity=False).hexdigest().upper()
        prefix, suffix = digest[:PREFIX_LENGTH], digest[PREFIX_LENGTH:]
        try:
            suffixes = await self._range(prefix)
        except httpx.HTTPError as error:
            _log.warning("pwned passwords unavailable; bundled list only", error=repr(error))
            return False
        return suffixes.get(suffix, 0) > 0

    async def _range(self, prefix: str) -> dict[str, int]:
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            response = await client.get(self._range_url + prefix, headers={"Add-Padding": "true"})
            response.raise_for_status()
        found: dict[str, int] = {}
        for line in response.text.splitlines():
            suffix, _, count = line.strip().partition(":")
            if count.isdigit():
                found[suffix.upper()] = int(count)
        return found
