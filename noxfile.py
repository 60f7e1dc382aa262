"""Developer and CI tasks. Run through ./dev.sh, or as .venv/bin/nox -s <session>.

Sessions reuse the project's .venv (venv_backend="none"): ./dev.sh keeps it installed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import nox
from nox.command import CommandFailed

# nox runs from .venv/bin; put that first on PATH so "pytest", "ruff"... are the venv's own
# even when the venv is not activated.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

nox.options.sessions = ["tests"]

# One pytest process per core, each with its own private PostgreSQL and Redis (tests/conftest.py);
# a test file stays on one process, so its module-scoped databases are made once.
PYTEST = ("pytest", "-p", "no:cacheprovider", "--numprocesses=auto", "--dist=loadfile")


def _lint(session: nox.Session) -> None:
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


def _typecheck(session: nox.Session) -> None:
    session.run("mypy")


def _arch(session: nox.Session) -> None:
    session.run("lint-imports", "--no-cache")


def _all_tests(session: nox.Session) -> None:
    # No path given: pytest takes the testpaths of pyproject.toml, i.e. everything.
    session.run(*PYTEST, *session.posargs)


@nox.session(venv_backend="none")
def lint(session: nox.Session) -> None:
    _lint(session)


@nox.session(venv_backend="none")
def typecheck(session: nox.Session) -> None:
    _typecheck(session)


@nox.session(venv_backend="none")
def arch(session: nox.Session) -> None:
    _arch(session)


@nox.session(venv_backend="none")
def unit(session: nox.Session) -> None:
    session.run(*PYTEST, "tests/unit", *session.posargs)


@nox.session(venv_backend="none")
def integration(session: nox.Session) -> None:
    session.run(*PYTEST, "tests/integration", *session.posargs)


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """Every check CI makes. All of them run, so one red check does not hide the others."""
    steps = {"lint": _lint, "typecheck": _typecheck, "arch": _arch, "pytest": _all_tests}
    failed = [name for name, step in steps.items() if not _succeeds(step, session)]
    if failed:
        session.error(f"failed: {', '.join(failed)}")


@nox.session(venv_backend="none")
def serve(session: nox.Session) -> None:
    session.run("reserva", "serve", *session.posargs)


def _succeeds(step: Callable[[nox.Session], None], session: nox.Session) -> bool:
    try:
        step(session)
    except CommandFailed:
        return False
    return True
