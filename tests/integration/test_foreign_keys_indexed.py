"""Every foreign key of our schema has an index on its referencing side (issue 11).

PostgreSQL indexes the referenced side (a primary key or unique constraint) but not the
referencing one. Without that index, deleting or re-keying a referenced row scans the whole
referencing table to check the key: `bookings.rescheduled_from` unindexed made deleting 1M
bookings run for more than ten minutes. Retention and erasure delete rows, so every foreign
key counts, procrastinate's tables included (migration 0009 installs them and retention
deletes their jobs): nothing is excluded.

A key is served when its columns are the leading columns of an index of the referencing table
(in any order), and the index is not partial, or partial on exactly "those columns IS NOT
NULL": a lookup of `col = $1` implies that predicate, so the planner uses such an index for the
check.
"""

from __future__ import annotations

import psycopg

from adapters.postgis import migrate
from devservers.postgres import LocalDatabase

# Foreign keys of the public schema with no index serving them: table, constraint, columns.
UNINDEXED = """
SELECT c.conrelid::regclass::text AS referencing, c.conname,
       array_agg(a.attname ORDER BY k.ord)::text[] AS columns
FROM pg_constraint c
CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
  AND NOT EXISTS (
    SELECT FROM pg_index i
    WHERE i.indrelid = c.conrelid AND i.indisvalid
      AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey
      AND cardinality(c.conkey) <= i.indnkeyatts
      AND (i.indpred IS NULL OR pg_get_expr(i.indpred, i.indrelid) = (
        SELECT string_agg(format('(%I IS NOT NULL)', fa.attname), ' AND ' ORDER BY fa.attnum)
        FROM pg_attribute fa WHERE fa.attrelid = c.conrelid AND fa.attnum = ANY(c.conkey)
      ))
  )
GROUP BY c.conrelid, c.conname
ORDER BY 1, 2
"""
FOREIGN_KEYS = (
    "SELECT count(*) FROM pg_constraint"
    " WHERE contype = 'f' AND connamespace = 'public'::regnamespace"
)


def test_every_foreign_key_has_an_index_on_its_referencing_columns(
    new_database: LocalDatabase,
) -> None:
    migrate.upgrade(new_database.migrator_url)
    url = new_database.migrator_url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(url) as connection:
        keys = connection.execute(FOREIGN_KEYS).fetchone()
        unindexed = connection.execute(UNINDEXED).fetchall()

    assert keys is not None
    assert keys[0] > 20  # the catalog was read, not an empty schema
    assert unindexed == [], "foreign keys without an index:\n" + "\n".join(
        f"  {table}.{name} ({', '.join(columns)})" for table, name, columns in unindexed
    )
