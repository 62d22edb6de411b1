"""Callers reached back: the reach of unanswered stays, the answered callback (issue 20 item 2)

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-08 03:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | Sequence[str] | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference).
# Calls of before this migration keep reach NULL: the matcher (uhd_telephony/reachback) looks back a few days only.
TIME = sa.DateTime(timezone=True)
REACH_TODO = "answered_at IS NULL AND outcome IS NOT NULL AND (reach IS NULL OR reach = 'open')"


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("reach", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("reached_at", TIME, nullable=True))
        batch.add_column(sa.Column("reach_s", sa.Double(), nullable=True))
    op.create_index(
        "ix_calls_reach_todo",
        "calls",
        ["entered_at"],
        sqlite_where=sa.text(REACH_TODO),
        postgresql_where=sa.text(REACH_TODO),
    )
    with op.batch_alter_table("callbacks") as batch:
        batch.add_column(sa.Column("reached_at", TIME, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("callbacks") as batch:
        batch.drop_column("reached_at")
    op.drop_index("ix_calls_reach_todo", table_name="calls")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("reach_s")
        batch.drop_column("reached_at")
        batch.drop_column("reach")
