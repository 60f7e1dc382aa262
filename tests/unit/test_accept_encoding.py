"""Accept-Encoding as RFC 9110 §12.5.3 reads it: q=0 refuses a coding, `*` accepts the rest."""

from __future__ import annotations

import pytest

from entrypoints.http.compression import AcceptEncoding


@pytest.mark.parametrize(
    ("header", "br", "gzip"),
    [
        ("", False, False),
        ("identity", False, False),
        ("br", True, False),
        ("gzip, deflate, br, zstd", True, True),
        ("GZIP;Q=1.0", False, True),
        ("br;q=0, gzip", False, True),
        ("br;q=0.000, gzip;q=0.5", False, True),
        ("br;q=0.001", True, False),
        ("*", True, True),
        ("br;q=0, *", False, True),
        ("*;q=0", False, False),
        ("br;q=nonsense", False, False),  # a weight we cannot read accepts nothing
        ("brotli, xgzip", False, False),  # names, not substrings
    ],
)
def test_what_a_header_accepts(header: str, br: bool, gzip: bool) -> None:
    accept = AcceptEncoding.parse(header)

    assert (accept.accepts("br"), accept.accepts("gzip")) == (br, gzip)
