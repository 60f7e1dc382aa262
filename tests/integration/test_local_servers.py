"""The session fixtures hand out real, private PostGIS and Redis servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from devservers.postgres import LocalDatabase


@pytest.fixture
def connection(postgres_url: str) -> Iterator[sa.Connection]:
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def test_postgres_url_reaches_a_private_postgis(
    postgres_url: str, connection: sa.Connection
) -> None:
    version = connection.execute(sa.text("SELECT postgis_version()")).scalar_one()

    assert version.startswith("3.")
    assert sa.make_url(postgres_url).port not in (None, 5432)


def test_btree_gist_lets_an_exclusion_constraint_refuse_overlaps(connection: sa.Connection) -> None:
    connection.execute(
        sa.text(
            "CREATE TEMP TABLE slot (resource int, during tstzrange,"
            " EXCLUDE USING gist (resource WITH =, during WITH &&))"
        )
    )
    insert = sa.text("INSERT INTO slot VALUES (1, tstzrange(:start, :end))")
    connection.execute(insert, {"start": "2030-01-01 10:00Z", "end": "2030-01-01 11:00Z"})

    with pytest.raises(IntegrityError, match="exclusion constraint"):
        connection.execute(insert, {"start": "2030-01-01 10:30Z", "end": "2030-01-01 11:30Z"})


def test_postgres_allows_benchmark_sized_connection_counts(connection: sa.Connection) -> None:
    max_connections = connection.execute(sa.text("SHOW max_connections")).scalar_one()

    assert int(max_connections) >= 1100


def test_new_database_is_empty_but_for_the_extensions(
    new_database: LocalDatabase, postgres_url: str
) -> None:
    engine = sa.create_engine(new_database.app_url)
    try:
        with engine.connect() as conn:
            extensions = set(conn.execute(sa.text("SELECT extname FROM pg_extension")).scalars())
            tables = conn.execute(
                sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            ).scalar_one()
    finally:
        engine.dispose()

    assert new_database.app_url != postgres_url
    assert {"postgis", "btree_gist"} <= extensions
    # PostGIS keeps its spatial_ref_sys table in public; nothing else may be there.
    assert tables == 1


def test_redis_url_reaches_a_private_redis(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as client:
        assert client.ping()
        client.set("smoke", "ok")

        assert client.get("smoke") == b"ok"
        assert client.connection_pool.connection_kwargs["port"] != 6379
