"""The keyring's contract, on the AES-GCM keyring over a key file and on the memory fake: a
sealed value hides its plaintext, opens only for its purpose, survives KEK rotation, and
re-wraps without touching its ciphertext. Then the key file itself."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import attrs
import pytest

from adapters.memory.keyring import MemoryKeyring
from adapters.security.keyring import AesGcmKeyring, FileKeyStore, KeyFileError
from core.shared.keyring import Keyring, KeyStore, SealBroken, Sealed

SECRET = b"JBSWY3DPEHPK3PXP-a-totp-secret"
PURPOSE = "identity.totp_secret/0b0e6f5c"


@pytest.fixture(params=["aes-gcm", "memory"])
def keys(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Keyring, KeyStore]:
    if request.param == "memory":
        fake = MemoryKeyring()
        return fake, fake
    FileKeyStore.create(tmp_path / "kek.json")
    store = FileKeyStore(tmp_path / "kek.json")
    return AesGcmKeyring(store), store


async def test_a_sealed_value_hides_its_plaintext_and_opens_for_its_purpose(
    keys: tuple[Keyring, KeyStore],
) -> None:
    keyring, store = keys
    sealed = await keyring.seal(SECRET, purpose=PURPOSE)
    blob = sealed.to_bytes()

    assert SECRET not in blob
    assert sealed.kek_id == await store.active()
    assert await keyring.open(Sealed.from_bytes(blob), purpose=PURPOSE) == SECRET
    assert await keyring.seal(SECRET, purpose=PURPOSE) != sealed  # a fresh data key each time


async def test_another_purpose_or_a_flipped_bit_does_not_open(
    keys: tuple[Keyring, KeyStore],
) -> None:
    keyring, _ = keys
    sealed = await keyring.seal(SECRET, purpose=PURPOSE)
    flipped = bytearray(sealed.ciphertext)
    flipped[-1] ^= 1

    with pytest.raises(SealBroken):
        await keyring.open(sealed, purpose="identity.totp_secret/another-user")
    with pytest.raises(SealBroken):
        await keyring.open(
            Sealed(**{**_fields(sealed), "ciphertext": bytes(flipped)}), purpose=PURPOSE
        )
    with pytest.raises(SealBroken):
        await keyring.open(attrs.evolve(sealed, kek_id="nobody"), purpose=PURPOSE)
    with pytest.raises(SealBroken):
        Sealed.from_bytes(sealed.to_bytes()[:5])


async def test_rotation_keeps_old_values_open_and_rewrap_moves_them(
    keys: tuple[Keyring, KeyStore],
) -> None:
    keyring, store = keys
    old_kek = await store.active()
    sealed = await keyring.seal(SECRET, purpose=PURPOSE)

    new_kek = await store.rotate()
    rewrapped = await keyring.rewrap(sealed)

    assert new_kek != old_kek
    assert await keyring.open(sealed, purpose=PURPOSE) == SECRET  # the old KEK still unwraps
    assert rewrapped.kek_id == new_kek
    assert rewrapped.ciphertext == sealed.ciphertext  # only the data key was re-wrapped
    assert await keyring.open(rewrapped, purpose=PURPOSE) == SECRET
    assert await keyring.rewrap(rewrapped) is rewrapped
    assert (await keyring.seal(SECRET, purpose=PURPOSE)).kek_id == new_kek


def _fields(sealed: Sealed) -> dict[str, object]:
    return {
        "kek_id": sealed.kek_id,
        "wrapped_key": sealed.wrapped_key,
        "ciphertext": sealed.ciphertext,
    }


# ---------------------------------------------------------------- the key file


def test_the_key_file_is_owner_only_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "data" / "kek.json"
    FileKeyStore.create(path)
    first = path.read_text()
    FileKeyStore.create(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == first
    assert list(path.parent.iterdir()) == [path]  # no staging file left behind


async def test_a_running_store_sees_a_rotation_made_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "kek.json"
    FileKeyStore.create(path)
    server, operator = FileKeyStore(path), FileKeyStore(path)
    keyring = AesGcmKeyring(operator)

    new_kek = await operator.rotate()
    sealed = await keyring.seal(SECRET, purpose=PURPOSE)

    assert await server.active() == new_kek
    assert await AesGcmKeyring(server).open(sealed, purpose=PURPOSE) == SECRET
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(json.loads(path.read_text())["keys"]) == 2


async def test_the_key_file_is_read_again_only_when_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every seal and open asks the store; an unchanged file costs a stat, not a read."""
    path = tmp_path / "kek.json"
    FileKeyStore.create(path)
    store = FileKeyStore(path)
    keyring = AesGcmKeyring(store)
    reads: list[Path] = []
    read_text = Path.read_text

    def counting_read(self: Path, *args: object, **kwargs: object) -> str:
        reads.append(self)
        return read_text(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", counting_read)

    for _ in range(3):
        await keyring.open(await keyring.seal(SECRET, purpose=PURPOSE), purpose=PURPOSE)
    assert reads == []

    await FileKeyStore(path).rotate()  # another process: it reads the file, then replaces it
    reads.clear()
    await keyring.seal(SECRET, purpose=PURPOSE)
    await keyring.seal(SECRET, purpose=PURPOSE)
    assert reads == [path]


def test_a_missing_or_malformed_key_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read"):
        FileKeyStore(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text(json.dumps({"active": "k", "keys": {"k": "c2hvcnQ="}}))
    with pytest.raises(KeyFileError, match="256 bits"):
        FileKeyStore(tmp_path / "bad.json")
