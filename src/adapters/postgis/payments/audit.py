"""Money actions in the platform's one audit log: the same table and hash chain (ADR 15) as
the identity context's entries; reading and verifying it stay with identity."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from adapters.postgis.identity.tables import audit_log
from adapters.postgis.unit_of_work import PostgisPart
from core.payments.ports import MoneyAudit
from core.shared.ids import UserId


class PostgisMoneyAudit(PostgisPart, MoneyAudit):
    async def append(
        self,
        action: str,
        at: datetime,
        actor: UserId | None,
        subject: UserId | None,
        details: Mapping[str, Any],
    ) -> None:
        await self._run(
            audit_log.insert().values(
                id=uuid.uuid4(),
                at=at,
                action=action,
                actor_user_id=actor,
                subject_user_id=subject,
                details=dict(details),
            )
        )
