"""What the outbox trigger of migration 0009 costs a writing transaction (issue 9).

    PYTHONPATH=src:bench .venv/bin/python bench/outbox_trigger.py [--seconds 10] [--rounds 3]

On a private, durable PostgreSQL migrated to head, pgbench (8 clients, prepared) runs a
transaction that inserts one outbox row, the cheapest state change there is, three ways,
interleaved round by round: with the trigger as shipped (a procrastinate job row, its event row
and a NOTIFY per outbox row), with procrastinate's NOTIFY trigger off, and with the outbox
trigger off (no job). The job rows are removed between rounds. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import tempfile
from pathlib import Path

from stack import databases, machine

OUTBOX_INSERT = """BEGIN;
INSERT INTO outbox (id, name, occurred_at, payload)
VALUES (gen_random_uuid(), 'bookings.slot_held', now(), '{"booking_id": "x"}');
COMMIT;
"""
NOTIFY = "procrastinate_jobs_notify_queue_job_inserted_v1"
VARIANTS = {
    "as shipped": ("ENABLE TRIGGER ALL", "ENABLE TRIGGER ALL"),
    "without NOTIFY": ("ENABLE TRIGGER ALL", f"DISABLE TRIGGER {NOTIFY}"),
    "no job (trigger off)": ("DISABLE TRIGGER USER", "ENABLE TRIGGER ALL"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reserva-bench-") as work:
        workdir = Path(work)
        script = workdir / "outbox.sql"
        script.write_text(OUTBOX_INSERT)
        with databases(workdir, durable=True) as dbs:
            port = str(dbs.postgres.port)
            connect = ["-h", "127.0.0.1", "-p", port, "-U", "postgres", "reserva"]

            def sql(statement: str) -> None:
                subprocess.run(["psql", "-q", *connect, "-c", statement], check=True)

            def tps() -> float:
                load = ["-c", "8", "-j", "2", "-T", str(args.seconds), "-f", str(script)]
                run = subprocess.run(
                    ["pgbench", "-n", "-M", "prepared", *load, *connect],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                found = re.search(r"tps = ([\d.]+)", run.stdout)
                assert found is not None, run.stdout
                return float(found.group(1))

            results: dict[str, list[float]] = {name: [] for name in VARIANTS}
            for _ in range(args.rounds):
                for name, (outbox, jobs) in VARIANTS.items():
                    sql(f"ALTER TABLE outbox {outbox}")
                    sql(f"ALTER TABLE procrastinate_jobs {jobs}")
                    results[name].append(tps())
                    sql("TRUNCATE outbox, procrastinate_jobs CASCADE")
            sql("ALTER TABLE outbox ENABLE TRIGGER ALL")
            sql("ALTER TABLE procrastinate_jobs ENABLE TRIGGER ALL")
            medians = {name: statistics.median(values) for name, values in results.items()}
            baseline = medians["no job (trigger off)"]
            print(
                json.dumps(
                    {
                        "machine": machine(dbs),
                        "tps": results,
                        "median_tps": medians,
                        "ratio_to_no_job": {k: round(v / baseline, 2) for k, v in medians.items()},
                    },
                    indent=2,
                )
            )


if __name__ == "__main__":
    main()
