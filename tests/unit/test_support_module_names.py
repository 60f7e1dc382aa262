"""Test helper modules are imported by bare name (pytest puts each test folder on sys.path), so
two with one name shadow each other in the whole suite while each passes alone."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).parents[1]


def test_no_two_test_modules_share_a_name() -> None:
    names = Counter(
        path.name for path in TESTS.rglob("*.py") if path.name not in {"conftest.py", "__init__.py"}
    )

    assert len(names) > 100
    assert [name for name, count in names.items() if count > 1] == []
