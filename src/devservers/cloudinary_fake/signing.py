"""Cloudinary's signatures, computed the way its documentation describes them.

Requests: every parameter except file, cloud_name, resource_type and api_key, non-empty,
as `name=value` sorted and joined by `&`, the API secret appended, hashed with SHA-1 (or
SHA-256 when the account asks for it). Version 2 of the string escapes `&` inside a pair as
`%26` (what the SDKs send since 2025); both versions are accepted.
Notifications: SHA-1 (or SHA-256) hex of body + X-Cld-Timestamp + API secret.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

UNSIGNED = frozenset({"file", "cloud_name", "resource_type", "api_key", "signature"})
ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}


def string_to_sign(params: Mapping[str, str], version: int) -> str:
    pairs = [f"{k}={v}" for k, v in params.items() if v and k not in UNSIGNED]
    if version >= 2:
        pairs = [pair.replace("&", "%26") for pair in pairs]
    return "&".join(sorted(pairs))


def digest(text: str, algorithm: str) -> str:
    return ALGORITHMS[algorithm](text.encode()).hexdigest()


def request_signed(params: Mapping[str, str], signature: str, secret: str) -> bool:
    algorithm = "sha256" if len(signature) == 64 else "sha1"
    return any(
        hmac.compare_digest(digest(string_to_sign(params, version) + secret, algorithm), signature)
        for version in (1, 2)
    )


def notification_signature(body: bytes, timestamp: str, secret: str, algorithm: str) -> str:
    return ALGORITHMS[algorithm](body + timestamp.encode() + secret.encode()).hexdigest()


def response_signature(public_id: str, version: int, secret: str, algorithm: str) -> str:
    """The `signature` of an upload response: public_id and version, signed (version 1)."""
    return digest(f"public_id={public_id}&version={version}{secret}", algorithm)
