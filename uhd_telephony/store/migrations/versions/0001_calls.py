"""calls: one row per call record

Revision ID: 0001
Revises:
Create Date: 2024-11-26 23:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
OPEN = sa.text("outcome IS NULL")


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(), nullable=False),
        sa.Column("linkedid", sa.String(), nullable=False),
        sa.Column("uniqueid", sa.String(), nullable=False),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("queue", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("caller_number", sa.String(), nullable=False),
        sa.Column("caller_name", sa.String(), nullable=False),
        sa.Column("dialled", sa.String(), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("wait_s", sa.Double(), nullable=True),
        sa.Column("talk_s", sa.Double(), nullable=True),
        sa.Column("agent", sa.String(), nullable=True),
        sa.Column("agent_interface", sa.String(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("ended_by", sa.String(), nullable=True),
        sa.Column("queue_status", sa.String(), nullable=True),
        sa.Column("callback_requested", sa.Boolean(), nullable=False),
        sa.Column("transferred_to", sa.String(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("ring_attempts", JSON, nullable=False),
        sa.Column("variables", JSON, nullable=False),
        sa.Column("resynced", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_calls"),
        sa.UniqueConstraint("call_id", name="uq_calls_call_id"),
    )
    op.create_index("ix_calls_tenant_entered_at", "calls", ["tenant", "entered_at"])
    op.create_index("ix_calls_tenant_queue_entered_at", "calls", ["tenant", "queue", "entered_at"])
    op.create_index("ix_calls_entered_at", "calls", ["entered_at"])
    op.create_index("ix_calls_linkedid", "calls", ["linkedid"])
    op.create_index("ix_calls_open", "calls", ["tenant", "entered_at"], sqlite_where=OPEN, postgresql_where=OPEN)


def downgrade() -> None:
    op.drop_index("ix_calls_open", table_name="calls")
    op.drop_index("ix_calls_linkedid", table_name="calls")
    op.drop_index("ix_calls_entered_at", table_name="calls")
    op.drop_index("ix_calls_tenant_queue_entered_at", table_name="calls")
    op.drop_index("ix_calls_tenant_entered_at", table_name="calls")
    op.drop_table("calls")
