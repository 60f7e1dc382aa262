"""PostGIS repositories and unit of work of the payments context, one module per repository.

Money is guarded by the database (ADR 4): refunds reserve their amount with one conditional
UPDATE under a CHECK that refunded never exceeds captured, payments are saved by version, the
ledger is append-only for the app role and a deferred trigger refuses an unbalanced
transaction, and processor events are claimed with FOR UPDATE SKIP LOCKED. Rows become attrs
domain values here and nowhere else (ADR 2).
"""

from adapters.postgis.payments.unit_of_work import PostgisPaymentsUnitOfWork

__all__ = ["PostgisPaymentsUnitOfWork"]
