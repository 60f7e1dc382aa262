from __future__ import annotations

import asyncio
import gzip
import re
import unicodedata
from importlib import resources

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from returns.result import Failure, Success

from adapters.memory.security_fakes import FakeBreachedPasswords, FakePasswordHasher
from adapters.security.breached import LONG_BREACHED, BundledBreachedPasswords
from core.identity.model import Email
from core.identity.password_policy import (
    Password,
    PasswordContainsEmail,
    PasswordPolicy,
    PasswordTooCommon,
    PasswordTooLong,
    PasswordTooShort,
)

POLICY = PasswordPolicy()
BREACHED = FakeBreachedPasswords(["password1234", "qwertyuiopasdf"])
EMAIL = Email.parse("Alice.Liddell@example.com").unwrap()


def check(raw: str, email: Email = EMAIL, policy: PasswordPolicy = POLICY) -> object:
    checked = policy.check(raw, email=email, breached=BREACHED)
    return asyncio.run(checked)  # the list is in memory: nothing else runs meanwhile


def test_eleven_characters_are_too_short_by_default() -> None:
    assert check("a" * 11) == Failure(PasswordTooShort(12))


def test_twelve_characters_are_enough_by_default() -> None:
    assert check("a" * 12) == Success(Password("a" * 12))


def test_sixty_four_characters_are_allowed() -> None:
    assert check("x" * 64) == Success(Password("x" * 64))


def test_1024_characters_are_allowed_and_1025_rejected() -> None:
    assert check("y" * 1024) == Success(Password("y" * 1024))
    assert check("y" * 1025) == Failure(PasswordTooLong(1024))


def test_spaces_count_and_are_kept() -> None:
    assert check("  a b c d e ") == Success(Password("  a b c d e "))


def test_any_unicode_is_allowed_and_counted_in_code_points() -> None:
    kanji = "パスワードはとても長いです"  # 13 code points
    assert check(kanji) == Success(Password(kanji))
    assert check("😀" * 12) == Success(Password("😀" * 12))
    assert check("😀" * 11) == Failure(PasswordTooShort(12))


def test_password_is_nfkc_normalised_before_hashing() -> None:
    decomposed = "cafe\u0301 au lait!!"  # e + combining acute
    fullwidth = "\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19\uff10ab"  # full-width
    assert check(decomposed) == Success(Password("café au lait!!"))
    assert check(fullwidth) == Success(Password("1234567890ab"))


def test_length_is_measured_after_normalisation() -> None:
    # "ﬀ" (one code point) becomes "ff": six ligatures are twelve characters after NFKC.
    assert check("ﬀ" * 6) == Success(Password("ff" * 6))


def test_no_composition_rules() -> None:
    assert check("alllowercaseletters") == Success(Password("alllowercaseletters"))


def test_common_password_is_rejected_case_insensitively() -> None:
    assert check("Password1234") == Failure(PasswordTooCommon())


def test_password_containing_the_email_local_part_is_rejected() -> None:
    assert check("my name is ALICE.LIDDELL ok") == Failure(PasswordContainsEmail())


def test_short_local_parts_are_not_checked() -> None:
    jo = Email.parse("jo@example.com").unwrap()
    assert check("jo jo jo jo jo jo", email=jo) == Success(Password("jo jo jo jo jo jo"))


def test_three_character_local_part_is_checked() -> None:
    bob = Email.parse("bob@example.com").unwrap()
    assert check("bobbybobbybobby", email=bob) == Failure(PasswordContainsEmail())


def test_minimum_is_configurable() -> None:
    assert check("a" * 15, policy=PasswordPolicy(min_length=16)) == Failure(PasswordTooShort(16))
    assert check("abcdefgh", policy=PasswordPolicy(min_length=8)) == Success(Password("abcdefgh"))


def test_minimum_may_never_go_below_eight() -> None:
    with pytest.raises(ValueError, match="below 8"):
        PasswordPolicy(min_length=7)


def test_maximum_must_allow_64_and_not_exceed_1024() -> None:
    with pytest.raises(ValueError, match="max_length"):
        PasswordPolicy(max_length=63)
    with pytest.raises(ValueError, match="max_length"):
        PasswordPolicy(max_length=1025)


def test_errors_name_the_rule() -> None:
    assert "at least 12" in PasswordTooShort(12).detail
    assert "at most 1024" in PasswordTooLong(1024).detail
    assert "common" in PasswordTooCommon().detail
    assert "email" in PasswordContainsEmail().detail


async def test_shipped_list_has_at_least_ten_thousand_common_passwords() -> None:
    shipped = BundledBreachedPasswords()
    assert len(shipped) >= 10_000
    assert await shipped.contains("password")
    assert await shipped.contains("Baseball")
    assert not await shipped.contains("unguessable tangerine orbit")


async def test_shipped_list_has_3000_breached_passwords_the_length_rule_allows() -> None:
    """ASVS 5.0 6.2.4: at least the 3,000 most common passwords that match the policy."""
    data = resources.files("adapters.security").joinpath("data", LONG_BREACHED).read_bytes()
    long_ones = gzip.decompress(data).decode().splitlines()
    shipped = BundledBreachedPasswords()

    assert len(long_ones) >= 3000
    assert all(len(p) >= 12 and p == p.casefold() for p in long_ones)
    assert all([await shipped.contains(p.upper()) for p in long_ones[:3000]])


@pytest.mark.parametrize("password", ["123456789012", "passwordpassword", "Password123!"])
async def test_common_passwords_of_twelve_characters_are_rejected(password: str) -> None:
    result = await POLICY.check(password, email=EMAIL, breached=BundledBreachedPasswords())
    assert result == Failure(PasswordTooCommon())


def test_a_listed_password_with_only_digits_and_symbols_added_is_common() -> None:
    assert check("QwertyUiopAsdf 2024!") == Failure(PasswordTooCommon())
    assert check("qwertyuiopasdf+x") == Success(Password("qwertyuiopasdf+x"))
    assert check("1234567890123") == Success(Password("1234567890123"))  # stem is empty


async def test_policy_with_shipped_list_rejects_a_common_long_password() -> None:
    policy = PasswordPolicy(min_length=8)
    result = await policy.check("iloveyou", email=EMAIL, breached=BundledBreachedPasswords())
    assert result == Failure(PasswordTooCommon())


def _listed(text: str) -> bool:
    return asyncio.run(BREACHED.contains(text))


@given(st.text(min_size=0, max_size=1100))
def test_every_password_gets_exactly_the_verdict_of_the_rules(raw: str) -> None:
    text = unicodedata.normalize("NFKC", raw)
    result = check(raw)
    if len(text) < 12:
        assert result == Failure(PasswordTooShort(12))
    elif len(text) > 1024:
        assert result == Failure(PasswordTooLong(1024))
    elif "alice.liddell" in text.casefold():
        assert result == Failure(PasswordContainsEmail())
    elif _listed(text) or _listed(re.sub(r"[\d\W_]+\Z", "", text) or text):
        assert result == Failure(PasswordTooCommon())
    else:
        assert result == Success(Password(text))


@given(st.text(alphabet=st.characters(codec="utf-8"), min_size=12, max_size=200))
def test_accepted_passwords_are_normalised_and_stable(raw: str) -> None:
    result = check(raw)
    assume(isinstance(result, Success))
    accepted = result.unwrap()
    assert unicodedata.is_normalized("NFKC", accepted.text)
    assert check(accepted.text) == result


def test_check_and_hash_hashes_the_normalised_password_it_accepts() -> None:
    hasher = FakePasswordHasher()
    decomposed = unicodedata.normalize("NFD", "Crème brûlée au four")
    hashed = asyncio.run(
        POLICY.check_and_hash(decomposed, email=EMAIL, breached=BREACHED, hasher=hasher)
    ).unwrap()
    assert asyncio.run(hasher.verify(hashed, unicodedata.normalize("NFKC", decomposed)))
    assert not asyncio.run(hasher.verify(hashed, decomposed))


def test_check_and_hash_returns_the_rejection_unhashed() -> None:
    hashed = POLICY.check_and_hash(
        "short", email=EMAIL, breached=BREACHED, hasher=FakePasswordHasher()
    )
    assert asyncio.run(hashed) == Failure(PasswordTooShort(12))
