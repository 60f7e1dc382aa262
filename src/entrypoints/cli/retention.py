"""`reserva privacy retention [--dry-run]`: enforce the retention table now, or show what would
go (core.consent.retention; the periodic `enforce_retention` job does the same every night).

`mount(app, run)` adds the `retention` command to `app`: the `privacy` group once it exists, the
root app until then. The table lists every data class with its period, the count that went (or
would go) and the action; "n/a" means not enforced in this database (a table a later release
brings, or abandoned accounts while no erasure is wired).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from core.consent import RetentionReport, period_text
from entrypoints.cli.console import out
from entrypoints.cli.identity import Runner


def retention_table(report: RetentionReport) -> Table:
    verb = "would go" if report.dry_run else "went"
    table = Table(
        "class", "period", verb, "action", title=f"Retention at {report.at:%Y-%m-%d %H:%M} UTC"
    )
    for item in report.classes:
        rule = item.rule
        table.add_row(
            rule.data.value,
            period_text(rule.period),
            "n/a" if item.count is None else str(item.count),
            rule.action.value,
        )
    return table


def mount(app: typer.Typer, run: Runner) -> None:
    """Add `retention` to `app`, running on the containers `run` builds."""

    @app.command("retention")
    def retention(
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Count what would go; remove nothing.")
        ] = False,
    ) -> None:
        """Remove personal data past its retention period (see docs/privacy.md)."""
        report = run(lambda container: container.enforce_retention()(dry_run=dry_run))
        out.print(retention_table(report))
