"""What the metrics endpoint asks PostgreSQL at each scrape (docs/adr/0033): the job queue's
depth and lag per queue, the outbox's backlog and lag, dead integrator webhook deliveries.

State of the database, not of a process: one query answers it for every process, so it is read
when scraped rather than counted in each process. Every part reads through a partial index
(`todo` jobs, undelivered outbox rows, dead deliveries), so a scrape stays cheap while the
tables grow with history.
"""

from __future__ import annotations

import attrs
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

# A job is due once its scheduled time (a retry's, a reminder's) has come; its lag is how long
# it has been due and not started. A deferred job without a schedule is due from its deferral.
_QUEUES = sa.text(
    """
    SELECT j.queue_name AS queue,
           count(*) AS due,
           coalesce(extract(epoch FROM now() - min(greatest(j.scheduled_at, e.at))), 0) AS lag
    FROM procrastinate_jobs j
    JOIN procrastinate_events e ON e.job_id = j.id AND e.type = 'deferred'
    WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())
    GROUP BY j.queue_name
    """
)
_OUTBOX_AND_WEBHOOKS = sa.text(
    """
    SELECT (SELECT count(*) FROM outbox WHERE delivered_at IS NULL) AS undelivered,
           coalesce((SELECT extract(epoch FROM now() - min(occurred_at))
                     FROM outbox WHERE delivered_at IS NULL), 0) AS lag,
           (SELECT count(*) FROM webhook_deliveries WHERE status = 'dead') AS dead_webhooks
    """
)


@attrs.frozen(kw_only=True)
class QueueState:
    queue: str
    due: int  # jobs waiting to run now
    lag_seconds: float  # how long the oldest of them has waited


@attrs.frozen(kw_only=True)
class OperationsState:
    queues: tuple[QueueState, ...]
    outbox_undelivered: int
    outbox_lag_seconds: float  # age of the oldest event not yet dispatched
    dead_webhook_deliveries: int


async def operations_state(engine: AsyncEngine) -> OperationsState:
    """The state above, in one transaction of two statements."""
    async with engine.connect() as connection:
        queues = (await connection.execute(_QUEUES)).all()
        outbox = (await connection.execute(_OUTBOX_AND_WEBHOOKS)).one()
    return OperationsState(
        queues=tuple(
            QueueState(queue=row.queue, due=int(row.due), lag_seconds=float(row.lag))
            for row in queues
        ),
        outbox_undelivered=int(outbox.undelivered),
        outbox_lag_seconds=float(outbox.lag),
        dead_webhook_deliveries=int(outbox.dead_webhooks),
    )
