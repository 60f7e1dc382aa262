"""The messaging unit of work on PostgreSQL (async SQLAlchemy Core over psycopg 3), one module
per group of repositories: messages, contacts (preferences, undeliverable addresses, WhatsApp
service windows), calendar (UIDs, sequences, feeds) and the reads of other contexts' rows.

Messages are planned once (a unique dedupe key, INSERT ... ON CONFLICT DO NOTHING) and move
forward only (one conditional UPDATE comparing ranks); calendar sequences are handed out by an
upsert that increments in place. Row-level security (migration 0010) keeps messages to their
recipient, their provider's staff and maintenance.
"""

from adapters.postgis.messaging.tables import MESSAGING_TABLES
from adapters.postgis.messaging.unit_of_work import PostgisMessagingUnitOfWork, postgis_jobs

__all__ = ["MESSAGING_TABLES", "PostgisMessagingUnitOfWork", "postgis_jobs"]
