"""Alembic migrations of the PostGIS schema; run them through `adapters.postgis.migrate`."""
