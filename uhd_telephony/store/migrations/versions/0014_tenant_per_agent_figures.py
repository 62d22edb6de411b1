"""tenants: per_agent_figures — whether the tenant's works agreement allows figures per agent (off by default)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference).
# Every tenant there is shows team figures only until its works agreement allows more (§87(1) Nr. 6 BetrVG).


def upgrade() -> None:
    op.add_column("tenants", sa.Column("per_agent_figures", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    # SQLite drops a column only by rebuilding the table: batch mode (no-op elsewhere)
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("per_agent_figures")
