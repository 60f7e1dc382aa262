"""The payments context writes into the platform's one audit log, which identity reads: every
action payments writes must be one the log knows, or reading the log would fail."""

from __future__ import annotations

import re
from pathlib import Path

import core.payments
from core.identity import AuditAction

SOURCES = Path(core.payments.__file__).parent


def test_every_action_the_payments_core_audits_is_a_known_audit_action() -> None:
    written = {
        match
        for path in SOURCES.glob("*.py")
        for match in re.findall(
            r'"((?:payment|refund|terms|connect)\.[a-z_]+)"', path.read_text(encoding="utf-8")
        )
    }

    assert len(written) >= 10
    assert written <= {action.value for action in AuditAction}
