"""accounts: the language of the account's pages and answers (German unless it chose English)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference).
# Every account there is speaks German until it chooses otherwise (PUT /api/me/locale).


def upgrade() -> None:
    # SQLite cannot alter a table in place: batch mode rebuilds it (no-op elsewhere)
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("locale", sa.String(length=8), server_default="de", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("locale")
