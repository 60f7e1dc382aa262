"""Secrets at rest: signing keys' private halves and TOTP secrets become sealed blobs, and
mailed one-time tokens leave the outbox (docs/adr/0011-secrets-at-rest.md).

A migration cannot seal anything: the key-encryption key is not the database's. So the
plaintext secrets are dropped, not converted:
- signing keys are deleted (a fresh one is made on first use; tokens they signed stop
  verifying and their holders refresh);
- raw tokens in outbox payloads are removed (those mails can no longer be sent; their users
  ask again);
- TOTP secrets are NOT deleted, since that would silently turn two-factor accounts into
  password-only ones: the upgrade refuses while any exist, and says what to do.
Downgrading drops the sealed values the same way (the old schema cannot hold them).

Revision ID: 0003_secrets_at_rest
Revises: 0002_identity
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from alembic.util import CommandError

revision: str = "0003_secrets_at_rest"
down_revision: str | None = "0002_identity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOTP_REFUSAL = (
    "{count} TOTP secret(s) are stored as {form}, which a migration cannot convert (the "
    "key-encryption key is not in the database). Their users must enrol again: run "
    "`reserva users reset-mfa <user>` for each (or DELETE FROM totp_credentials and "
    "recovery_codes), knowing those accounts sign in with the password alone until they do, "
    "then migrate again."
)


def _refuse_totp_rows(form: str) -> None:
    count = op.get_bind().execute(sa.text("SELECT count(*) FROM totp_credentials")).scalar_one()
    if count:
        raise CommandError(TOTP_REFUSAL.format(count=count, form=form))


def _replace(table: str, old: str, new: str, kind: sa.types.LargeBinary | sa.types.Text) -> None:
    op.drop_column(table, old)
    op.add_column(table, sa.Column(new, kind, nullable=False))


def upgrade() -> None:
    _refuse_totp_rows("plain text")
    op.execute("DELETE FROM signing_keys")
    _replace("signing_keys", "private_key_pem", "private_key_sealed", sa.LargeBinary())
    _replace("totp_credentials", "secret", "secret_sealed", sa.LargeBinary())
    op.execute("UPDATE outbox SET payload = payload - 'token' WHERE payload ? 'token'")


def downgrade() -> None:
    _refuse_totp_rows("sealed blobs")
    op.execute("DELETE FROM signing_keys")
    _replace("signing_keys", "private_key_sealed", "private_key_pem", sa.Text())
    _replace("totp_credentials", "secret_sealed", "secret", sa.Text())
    op.execute(
        "UPDATE outbox SET payload = payload - 'sealed_token' WHERE payload ? 'sealed_token'"
    )
