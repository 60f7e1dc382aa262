"""How the media context's failures look to a caller (see core.shared.problems)."""

from __future__ import annotations

from core.media.model import BadNotificationSignature, PhotoLimitReached
from core.shared.problems import ProblemKind, ProblemTable

PROBLEMS: ProblemTable = {
    BadNotificationSignature: ProblemKind(
        status=401, slug="bad-notification-signature", title="Bad notification signature"
    ),
    PhotoLimitReached: ProblemKind(
        status=409, slug="photo-limit-reached", title="Photo limit reached"
    ),
}
