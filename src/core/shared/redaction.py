"""The last line of defence against personal data in logs and recorded errors: anything that
looks like an email address, a phone number (international form) or an IP address, in free
text, is replaced by a placeholder. Code should not log such values in the first place (log
ids); this catches what slips through, e.g. a provider's error message quoting an address.

False positives are accepted (a dotted version number like 1.2.3.4 reads as an IP address);
UUIDs, ISO timestamps and clock times are left alone.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\d.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\d.])")
_HEX = r"[0-9A-Fa-f]{1,4}"
# Eight groups, or a "::" abbreviation with at least one group beside it (an optional IPv4
# tail, as in ::ffff:192.0.2.1). A clock time (03:23:00) has no "::" and too few groups.
_IPV6 = re.compile(
    rf"(?<![\w:])(?:"
    rf"(?:{_HEX}:){{7}}{_HEX}"
    rf"|(?:{_HEX}(?::{_HEX})*)?::(?:{_HEX}(?::{_HEX})*)?(?::\d{{1,3}}(?:\.\d{{1,3}}){{3}})?"
    rf")(?![\w:]|\.\d)"
)
# International form only (E.164 with optional separators): bare digit runs are ids and counts.
_PHONE = re.compile(r"(?<![\w+])\+[1-9](?:[ .()-]{0,2}\d){6,14}(?!\d)")


def _ipv6(match: re.Match[str]) -> str:
    return "[ip]" if len(match.group(0)) > 2 else match.group(0)  # a lone "::" is no address


def redact_personal(text: str) -> str:
    """`text` with email addresses, phone numbers and IP addresses replaced."""
    if not text:
        return text
    text = _EMAIL.sub("[email]", text)
    text = _IPV6.sub(_ipv6, text)
    text = _IPV4.sub("[ip]", text)
    return _PHONE.sub("[phone]", text)
