"""support groups and SLA contacts: the language of their mails (work orders, escalations; NULL: German)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-09 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference).
# Nullable and without a default: every group and contact there is keeps getting German until a file says
# otherwise (the groups and SLA files' ``locale``).
TABLES = ("support_groups", "sla_contacts")


def upgrade() -> None:
    for table in TABLES:
        # SQLite cannot alter a table in place: batch mode rebuilds it (no-op elsewhere)
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("locale", sa.String(length=8), nullable=True))


def downgrade() -> None:
    for table in reversed(TABLES):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("locale")
