"""The CLI reads its settings from the environment: give it the session's key file."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def kek_in_environment(kek_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEK_FILE", str(kek_file))
