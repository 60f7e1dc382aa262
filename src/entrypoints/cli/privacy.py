"""`reserva privacy export|erase|reapply-erasures`: a person's export and erasure, run at once,
in-process, and erasures applied again to a restored database.

USER is a user id, or an email address looked up through identity. `export` builds the export
(the same document as `GET /me/export`) and writes it to a file, created owner-only, or to
stdout. `erase` runs the person's erasure now, step by step, resuming a crashed one; erasing
again, or a user id nobody knows, changes nothing and succeeds.

Other privacy commands join the same sub-app: `mount` returns it, so another module can add
`privacy retention` beside these (`privacy.command("retention")(...)`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import attrs
import typer

from core.consent import ErasureRequest, Json, render_export
from core.shared.ids import UserId
from entrypoints.cli.console import CliError, out, parse_id, say, value
from entrypoints.cli.identity import Runner, operator
from entrypoints.container import Container


async def _person(c: Container, user: str) -> UserId:
    if "@" not in user:
        return UserId(parse_id("user", user))
    found = await c.find_user_by_email()(caller=await operator(c), email=user)
    return value(found).user_id


def _write_private(path: Path, text: str) -> None:
    """Personal data: a new file readable by its owner only (never over an existing one)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)


@attrs.frozen
class PrivacyCommands:
    run: Runner

    def export(
        self,
        user: Annotated[str, typer.Argument(help="User id or email address.")],
        out_file: Annotated[
            Path | None,
            typer.Option("--out", help="Write to this new file (owner-only) instead of stdout."),
        ] = None,
    ) -> None:
        """Everything held about a person, as JSON (docs/privacy-export.schema.json)."""

        async def built(c: Container) -> dict[str, Json]:
            return value(await c.export_now()(await _person(c, user)))

        text = render_export(self.run(built))
        if out_file is None:
            typer.echo(text)
            return
        try:
            _write_private(out_file, text + "\n")
        except FileExistsError:
            raise CliError(f"{out_file} exists already; choose a new file") from None
        say(f"export written to {out_file}")

    def erase(
        self,
        user: Annotated[str, typer.Argument(help="User id or email address.")],
        yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    ) -> None:
        """Erase a person now: their data key, their account, their data in every store.
        Bookings, payments and the ledger stay, pseudonymous. Resumes a crashed erasure."""
        if not yes:
            typer.confirm(f"Erase {user} for good? This cannot be undone", abort=True)

        async def erased(c: Container) -> ErasureRequest:
            person = await _person(c, user)
            return value(await c.run_erasure()(person, requested_by="operator"))

        request = self.run(erased)
        out.print(
            json.dumps(
                {
                    "person": str(request.person),
                    "completed_at": request.completed_at.isoformat()
                    if request.completed_at
                    else None,
                    "steps_done": list(request.steps_done),
                }
            ),
            highlight=False,
            soft_wrap=True,
        )

    def reapply_erasures(self) -> None:
        """After restoring a database from a backup: destroy again the data key of everyone
        erased since (the erasure register beside the key file). Run it before serving."""

        async def reapplied(c: Container) -> int:
            count: int = await c.personal_data().reapply_erasures()
            return count

        say(f"{self.run(reapplied)} erased people had a key again; it is destroyed")


def mount(app: typer.Typer, run: Runner) -> typer.Typer:
    """Add `privacy` to the CLI; the sub-app, for other modules to add commands to."""
    commands = PrivacyCommands(run)
    privacy = typer.Typer(help="A person's export and erasure (GDPR).", no_args_is_help=True)
    privacy.command("export")(commands.export)
    privacy.command("erase")(commands.erase)
    privacy.command("reapply-erasures")(commands.reapply_erasures)
    app.add_typer(privacy, name="privacy")
    return privacy
