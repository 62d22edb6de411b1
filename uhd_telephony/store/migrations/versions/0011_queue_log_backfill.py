"""queue_log backfill: calls.backfilled, and queue_log_marks (how far each queue_log file has been read)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference).
# ADD COLUMN with a constant default needs no table rebuild, on SQLite either; existing calls were seen live.


def upgrade() -> None:
    op.add_column("calls", sa.Column("backfilled", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "queue_log_marks",
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("inode", sa.BigInteger(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("head_len", sa.Integer(), nullable=False),
        sa.Column("head_sha256", sa.String(length=64), nullable=False),
        sa.Column("last_line_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("path", name="pk_queue_log_marks"),
    )


def downgrade() -> None:
    op.drop_table("queue_log_marks")
    # SQLite drops a column only by rebuilding the table: batch mode (no-op elsewhere)
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("backfilled")
