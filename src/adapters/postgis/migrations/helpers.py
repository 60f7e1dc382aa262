"""What the revisions since 0006 share: the app role they grant to, row-level security, grants.

Revisions call these from `upgrade()`, inside Alembic's migration context (`op`, `context`).
A revision's behaviour must never change once applied, so these only gather statements the
revisions used to spell out each for themselves: change one and every revision using it changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import sqlalchemy as sa
from alembic import context, op

from adapters.postgis.migrate import APP_ROLE, APP_ROLE_ATTRIBUTE


def app_role() -> str | None:
    """The app role, quoted; None when the app connects as the migrating role (as in 0004)."""
    name: str = context.config.attributes.get(APP_ROLE_ATTRIBUTE, APP_ROLE)
    connection = op.get_bind()
    if name == connection.execute(sa.text("SELECT current_user")).scalar_one():
        return None
    found = connection.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": name})
    if found.first() is None:
        raise RuntimeError(f"the application's database role {name!r} does not exist")
    quoted: str = connection.execute(sa.text("SELECT quote_ident(:r)"), {"r": name}).scalar_one()
    return quoted


def check(table: str, name: str, sql: str) -> sa.CheckConstraint:
    """A check constraint named in full, `ck_<table>_<name>` (revisions name every constraint)."""
    return sa.CheckConstraint(sql, name=f"ck_{table}_{name}")


def row_level_security(tables: Iterable[str], policies: Iterable[str]) -> None:
    """Turn row-level security on for `tables`, then create `policies` (full statements)."""
    for table in tables:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    for policy in policies:
        op.execute(policy)


def grant_app_role(privileges: Mapping[str, str]) -> str | None:
    """Grant the app role its privileges, table by table; the quoted role, None if no grants."""
    role = app_role()
    if role is None:
        return None
    for table, granted in privileges.items():
        op.execute(f"GRANT {granted} ON {table} TO {role}")
    return role
