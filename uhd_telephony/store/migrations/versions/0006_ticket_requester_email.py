"""tickets: the requester's mail address given with a ticket (web form, mail sender)

Revision ID: 0006
Revises: 0005
Create Date: 2024-12-10 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference)


def upgrade() -> None:
    # SQLite cannot alter a table in place: batch mode rebuilds it (no-op elsewhere)
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("requester_email", sa.String(length=254), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("requester_email")
