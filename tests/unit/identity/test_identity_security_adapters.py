"""The real crypto adapters: TOTP vectors, Argon2id, EdDSA JWTs, sealing, QR codes."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import argon2
import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from adapters.security.access_tokens import Ed25519SigningKeyFactory, PyJwtAccessTokenCodec
from adapters.security.passwords import Argon2Params, Argon2PasswordHasher
from adapters.security.qr import SegnoQrRenderer
from adapters.security.sealing import AesGcmTokenSealer
from adapters.security.totp import PyotpTotpGenerator
from core.identity.model import SigningKey

RFC6238_SEED = base64.b32encode(b"12345678901234567890").decode()
# RFC 6238 Appendix B, SHA-1 column: (Unix time, 8-digit TOTP)
RFC6238_SHA1_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]
FAST = Argon2Params(memory_cost_kib=1024, time_cost=1, parallelism=1)


def at(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, tz=UTC)


# --- TOTP --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("unix", "code"), RFC6238_SHA1_VECTORS)
def test_rfc6238_sha1_vectors(unix: int, code: str) -> None:
    totp = PyotpTotpGenerator(digits=8)
    assert totp.code_at(RFC6238_SEED, at(unix)) == code
    assert totp.matching_step(RFC6238_SEED, code, at(unix)) == unix // 30


def test_totp_accepts_one_step_of_drift_either_way_and_no_more() -> None:
    totp = PyotpTotpGenerator()
    now = at(1_700_000_000)
    secret = totp.new_secret()
    for steps in (-1, 0, 1):
        code = totp.code_at(secret, now + timedelta(seconds=30 * steps))
        assert totp.matching_step(secret, code, now) == 1_700_000_000 // 30 + steps
    for steps in (-2, 2):
        code = totp.code_at(secret, now + timedelta(seconds=30 * steps))
        assert totp.matching_step(secret, code, now) is None


def test_totp_defaults_are_six_digits_sha1_30_seconds() -> None:
    totp = PyotpTotpGenerator()
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, account="alice@example.com", issuer="Reserva")
    assert uri.startswith("otpauth://totp/Reserva:alice%40example.com?secret=")
    assert "issuer=Reserva" in uri
    assert len(totp.code_at(secret, at(0))) == 6
    assert len(base64.b32decode(secret)) == 20  # 160-bit secret


def test_totp_rejects_malformed_codes() -> None:
    totp = PyotpTotpGenerator()
    secret = totp.new_secret()
    assert totp.matching_step(secret, "12345", at(0)) is None
    assert totp.matching_step(secret, "abcdef", at(0)) is None


# --- Argon2id --------------------------------------------------------------------------------


def test_default_argon2_parameters_meet_owasp() -> None:
    params = Argon2Params()
    assert params.memory_cost_kib >= 19_456
    assert params.time_cost >= 2
    assert params.parallelism >= 1


async def test_argon2id_hash_verifies_only_the_right_password() -> None:
    hasher = Argon2PasswordHasher(FAST)
    stored = await hasher.hash("correct horse battery staple")
    assert stored.startswith("$argon2id$")
    assert await hasher.verify(stored, "correct horse battery staple")
    assert not await hasher.verify(stored, "correct horse battery stapler")
    assert not await hasher.verify("not a hash", "whatever")


async def test_argon2_hash_needs_rehash_when_parameters_change() -> None:
    old = Argon2PasswordHasher(FAST)
    new = Argon2PasswordHasher(Argon2Params(memory_cost_kib=2048, time_cost=1, parallelism=1))
    stored = await old.hash("correct horse battery staple")
    assert not old.needs_rehash(stored)
    assert new.needs_rehash(stored)
    assert await new.verify(stored, "correct horse battery staple")


async def test_argon2_dummy_verification_spends_a_real_verification() -> None:
    hasher = Argon2PasswordHasher(FAST)
    await hasher.verify_dummy("anything")  # completes without raising, like a failed verify
    assert argon2.extract_parameters(hasher._dummy_hash).memory_cost == 1024


# --- EdDSA access tokens -----------------------------------------------------------------------


def signing_key() -> SigningKey:
    new = Ed25519SigningKeyFactory().generate()
    return SigningKey(
        kid=new.kid, private_pem=new.private_pem, public_jwk=new.public_jwk, created_at=at(0)
    )


CLAIMS = {
    "iss": "reserva",
    "aud": "reserva-api",
    "sub": "u",
    "sid": "s",
    "iat": 1,
    "exp": 2,
    "jti": "j",
}


def test_jwt_is_eddsa_with_kid_header_and_round_trips() -> None:
    key = signing_key()
    codec = PyJwtAccessTokenCodec()
    token = codec.encode(CLAIMS, key)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "EdDSA"
    assert header["kid"] == key.kid
    assert codec.key_id(token) == key.kid
    # Expiry (exp=2, long past) is left to the core's clock.
    assert codec.decode(token, key, issuer="reserva", audience="reserva-api") == CLAIMS


# joserfc prefers RFC 9864's "Ed25519" name; PyJWT only knows "EdDSA", which all clients accept.
@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
def test_jwt_verifies_with_an_independent_library_from_the_public_jwk() -> None:
    key = signing_key()
    token = PyJwtAccessTokenCodec().encode(CLAIMS, key)
    keys = KeySet.import_key_set({"keys": [dict(key.public_jwk)]})
    decoded = jose_jwt.decode(token, keys, algorithms=["EdDSA"])
    assert decoded.claims == CLAIMS


def test_jwt_fails_with_another_key_wrong_audience_or_issuer_or_tampering() -> None:
    key, other = signing_key(), signing_key()
    codec = PyJwtAccessTokenCodec()
    token = codec.encode(CLAIMS, key)
    assert codec.decode(token, other, issuer="reserva", audience="reserva-api") is None
    assert codec.decode(token, key, issuer="reserva", audience="elsewhere") is None
    assert codec.decode(token, key, issuer="mallory", audience="reserva-api") is None
    head, _, sig = token.split(".")
    forged = base64.urlsafe_b64encode(json.dumps({**CLAIMS, "sub": "admin"}).encode())
    tampered = f"{head}.{forged.decode().rstrip('=')}.{sig}"
    assert codec.decode(tampered, key, issuer="reserva", audience="reserva-api") is None
    assert codec.key_id("garbage") is None


def test_jwt_requires_the_standard_claims() -> None:
    key = signing_key()
    codec = PyJwtAccessTokenCodec()
    token = codec.encode({k: v for k, v in CLAIMS.items() if k != "sid"}, key)
    assert codec.decode(token, key, issuer="reserva", audience="reserva-api") is None


def test_generated_keys_have_distinct_thumbprint_kids_and_okp_jwks() -> None:
    first, second = Ed25519SigningKeyFactory().generate(), Ed25519SigningKeyFactory().generate()
    assert first.kid != second.kid
    assert first.public_jwk["kty"] == "OKP"
    assert first.public_jwk["crv"] == "Ed25519"
    assert "d" not in first.public_jwk  # no private material in the JWK
    assert first.private_pem.startswith("-----BEGIN PRIVATE KEY-----")


# --- sealing -----------------------------------------------------------------------------------


def test_seal_opens_only_with_the_secret_it_was_sealed_with() -> None:
    sealer = AesGcmTokenSealer()
    sealed = sealer.seal("parent-token", "child-token")
    assert b"child-token" not in sealed
    assert sealer.open("parent-token", sealed) == "child-token"
    assert sealer.open("another-token", sealed) is None
    assert sealer.open("parent-token", sealed[:-1] + bytes([sealed[-1] ^ 1])) is None
    assert sealer.open("parent-token", b"short") is None


def test_each_seal_is_different() -> None:
    sealer = AesGcmTokenSealer()
    assert sealer.seal("p", "c") != sealer.seal("p", "c")


# --- QR codes ----------------------------------------------------------------------------------


def test_qr_code_as_png_and_svg() -> None:
    qr = SegnoQrRenderer()
    uri = "otpauth://totp/Reserva:alice%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=Reserva"
    assert qr.png(uri).startswith(b"\x89PNG\r\n\x1a\n")
    svg = qr.svg(uri)
    assert svg.startswith("<svg")
    assert svg.rstrip().endswith("</svg>")
