"""TLS settings (ADR 37): both files or neither, and a certificate that cannot be served stops
`serve` with a message naming the file and why, before any worker starts."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from entrypoints.http.server import TlsError, TlsFiles, tls13_context
from entrypoints.settings import Settings, SettingsError
from tls_support import self_signed

REQUIRED = {"DATABASE_URL": "postgresql+psycopg://a@b/c", "REDIS_URL": "redis://r", "KEK_FILE": "k"}


def test_tls_is_off_unless_both_files_are_set(tmp_path: Path) -> None:
    plain = Settings.from_env(REQUIRED)
    both = Settings.from_env(REQUIRED | {"TLS_CERT_FILE": "c.pem", "TLS_KEY_FILE": "k.pem"})

    assert plain.tls_cert_file is None
    assert plain.tls_key_file is None
    assert both.tls_cert_file == Path("c.pem")
    assert both.to_env()["TLS_KEY_FILE"] == "k.pem"  # what serve's worker processes read


@pytest.mark.parametrize("only", ["TLS_CERT_FILE", "TLS_KEY_FILE"])
def test_one_tls_file_without_the_other_is_refused(only: str) -> None:
    with pytest.raises(SettingsError, match="TLS_CERT_FILE and TLS_KEY_FILE go together"):
        Settings.from_env(REQUIRED | {only: "some.pem"})


def test_the_server_context_refuses_everything_older_than_tls_1_3(tmp_path: Path) -> None:
    context = tls13_context(self_signed(tmp_path))

    assert context.minimum_version == ssl.TLSVersion.TLSv1_3


def test_a_missing_certificate_is_named(tmp_path: Path) -> None:
    files = TlsFiles(cert_file=tmp_path / "nowhere.pem", key_file=tmp_path / "key.pem")

    with pytest.raises(TlsError, match=r"TLS_CERT_FILE .*nowhere.pem does not exist"):
        files.check()


def test_a_key_of_another_certificate_is_refused(tmp_path: Path) -> None:
    mine, other = self_signed(tmp_path / "mine"), self_signed(tmp_path / "other")
    mismatched = TlsFiles(cert_file=mine.cert_file, key_file=other.key_file)

    with pytest.raises(TlsError, match="key values mismatch"):
        mismatched.check()
    mine.check()  # the right pair loads


def test_a_file_that_is_no_certificate_is_refused(tmp_path: Path) -> None:
    good = self_signed(tmp_path)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")

    with pytest.raises(TlsError, match=r"cannot load the certificate .*garbage.pem"):
        TlsFiles(cert_file=garbage, key_file=good.key_file).check()
