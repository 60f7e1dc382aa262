"""The identity unit of work on PostgreSQL (async SQLAlchemy Core over psycopg 3), one module
per repository.

One connection and one transaction per unit of work; outbox rows go into the same transaction.
Single-use things (tokens, recovery codes, TOTP steps) are consumed with conditional UPDATEs,
so concurrent requests cannot both win; refresh and revocation serialise on the session row
(SELECT ... FOR UPDATE).
"""

from adapters.postgis.identity.unit_of_work import PostgisIdentityUnitOfWork

__all__ = ["PostgisIdentityUnitOfWork"]
