"""How the consent context's failures look to a caller (see core.shared.problems)."""

from __future__ import annotations

from core.consent.model import NoPolicyPublished, NotWithdrawable, StalePolicyVersion
from core.shared.problems import ProblemKind, ProblemTable

PROBLEMS: ProblemTable = {
    NotWithdrawable: ProblemKind(
        status=409, slug="consent-not-withdrawable", title="Consent not withdrawable"
    ),
    NoPolicyPublished: ProblemKind(
        status=409, slug="no-policy-published", title="No policy published"
    ),
    StalePolicyVersion: ProblemKind(
        status=409, slug="stale-policy-version", title="Stale policy version"
    ),
}
