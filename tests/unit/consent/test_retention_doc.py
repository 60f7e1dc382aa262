"""docs/privacy.md's retention table is the code's table, row for row and word for word."""

from __future__ import annotations

from pathlib import Path

from core.consent.retention import RETENTION, period_text

DOC = Path(__file__).parents[3] / "docs" / "privacy.md"
HEADER = ["Class", "What", "Period", "Counted from", "Action", "Why"]


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _documented() -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("\n## Retention\n", 1)[1].split("\n## ", 1)[0]
    table = [_cells(line) for line in section.splitlines() if line.startswith("|")]
    assert table, "docs/privacy.md: the Retention section lost its table"
    assert table[0] == HEADER
    return table[2:]  # after the header and its |---| line


def test_the_documented_table_is_the_code_table() -> None:
    in_code = [
        [
            f"`{rule.data.value}`",
            rule.what,
            period_text(rule.period),
            rule.starts,
            rule.action.value,
            rule.why,
        ]
        for rule in RETENTION
    ]

    assert _documented() == in_code
