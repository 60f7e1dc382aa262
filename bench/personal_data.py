"""What sealing personal data per person costs (issue 10, ADR 25), against a database round trip.

    PYTHONPATH=src:bench .venv/bin/python bench/personal_data.py [--people 300] [--rounds 3]

On a private PostgreSQL migrated to head, with the real FileKeyStore + AES-GCM keyring and the
person-key vault, it times, interleaved round by round, per operation (mean µs of `--people`
calls): a `SELECT 1` round trip on the app's engine (the unit everything is compared with),
`seal` and `open` with the person's key cached (the usual case inside one request), `open`
with the key not cached (a vault SELECT plus unwrapping the person key under the KEK), the first
`seal` of a new person (a vault INSERT: their key is made), and `lookup_hash` (HMAC). Prints
one JSON document with the medians and the ratio of each to the round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import sqlalchemy as sa
from stack import databases, machine

from adapters.postgis.database import create_engine
from adapters.postgis.personal import PostgisPersonKeyVault
from adapters.security.keyring import AesGcmKeyring, FileKeyStore
from adapters.security.personal import AesGcmPersonalData

EMAIL = "ana.lima@example.org"


async def _mean_us(calls: list[Callable[[], Awaitable[object]]]) -> float:
    start = time.perf_counter()
    for call in calls:
        await call()
    return (time.perf_counter() - start) / len(calls) * 1e6


async def _round(url: str, kek_file: Path, people: int) -> dict[str, float]:
    engine = create_engine(url, pool_size=2)
    keyring = AesGcmKeyring(FileKeyStore(kek_file))
    warm = AesGcmPersonalData(PostgisPersonKeyVault(engine), keyring, cache_seconds=3600)
    cold = AesGcmPersonalData(PostgisPersonKeyVault(engine), keyring, cache_seconds=0)
    try:
        async with engine.connect() as connection:

            async def round_trip() -> object:
                return await connection.scalar(sa.text("SELECT 1"))

            ids = [uuid.uuid4() for _ in range(people)]
            first = await _mean_us([partial(warm.seal, p, EMAIL, field="bench") for p in ids])
            blobs = {p: await warm.seal(p, EMAIL, field="bench") for p in ids}
            return {
                "round trip (SELECT 1)": await _mean_us([round_trip] * people),
                "seal, key cached": await _mean_us(
                    [partial(warm.seal, p, EMAIL, field="bench") for p in ids]
                ),
                "open, key cached": await _mean_us(
                    [partial(warm.open, p, blobs[p], field="bench") for p in ids]
                ),
                "open, key not cached": await _mean_us(
                    [partial(cold.open, p, blobs[p], field="bench") for p in ids]
                ),
                "first seal of a person (key made)": first,
                "lookup_hash": await _mean_us(
                    [partial(warm.lookup_hash, EMAIL, field="bench")] * people
                ),
            }
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="reserva-bench-") as work,
        databases(Path(work), durable=True) as dbs,
    ):
        rounds = [
            asyncio.run(_round(dbs.database_url, dbs.kek_file, args.people))
            for _ in range(args.rounds)
        ]
        medians = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
        unit = medians["round trip (SELECT 1)"]
        print(
            json.dumps(
                {
                    "machine": machine(dbs),
                    "people": args.people,
                    "median_us": {k: round(v, 1) for k, v in medians.items()},
                    "ratio_to_round_trip": {k: round(v / unit, 2) for k, v in medians.items()},
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
