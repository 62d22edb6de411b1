"""routing and the outbox: support groups, the ticket's group, 10-minute-rule due time, status-link hash, outbox

Revision ID: 0005
Revises: 0004
Create Date: 2024-12-09 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "support_groups",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("mail", sa.String(length=1000), nullable=True),
        sa.Column("webhook_url", sa.String(length=2000), nullable=True),
        sa.Column("webhook_secret", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.CheckConstraint("level BETWEEN 1 AND 3", name=op.f("ck_support_groups_level")),
        sa.CheckConstraint(
            "webhook_url IS NULL OR webhook_secret IS NOT NULL", name=op.f("ck_support_groups_webhook_signed")
        ),
        sa.PrimaryKeyConstraint("id", name="pk_support_groups"),
        sa.UniqueConstraint("tenant", "code", name="uq_support_groups_tenant_code"),
    )

    op.create_table(
        "outbox",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=2000), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=True),
        sa.Column("body", JSON, nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("ticket_id", ID, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIME, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("sent_at", TIME, nullable=True),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("claimed_until", TIME, nullable=True),
        sa.CheckConstraint("channel IN ('mail', 'webhook')", name=op.f("ck_outbox_channel")),
        sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name=op.f("ck_outbox_status")),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("dedupe_key", name="uq_outbox_dedupe_key"),
    )
    op.create_index("ix_outbox_status_next_attempt_at", "outbox", ["status", "next_attempt_at"])
    op.create_index("ix_outbox_ticket_id", "outbox", ["ticket_id"])

    # SQLite cannot add columns with constraints in place: batch mode rebuilds the table (no-op elsewhere)
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("support_group", sa.String(length=64), server_default="1st_level", nullable=False))
        batch.add_column(sa.Column("first_level_due_at", TIME, nullable=True))
        batch.add_column(sa.Column("status_token_hash", sa.String(length=64), nullable=True))
    op.create_index(
        "ix_tickets_first_level_due_at",
        "tickets",
        ["first_level_due_at"],
        sqlite_where=sa.text("first_level_due_at IS NOT NULL"),
        postgresql_where=sa.text("first_level_due_at IS NOT NULL"),
    )
    op.create_index("ix_tickets_status_token_hash", "tickets", ["status_token_hash"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_tickets_status_token_hash", table_name="tickets")
    op.drop_index("ix_tickets_first_level_due_at", table_name="tickets")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("status_token_hash")
        batch.drop_column("first_level_due_at")
        batch.drop_column("support_group")
    op.drop_index("ix_outbox_ticket_id", table_name="outbox")
    op.drop_index("ix_outbox_status_next_attempt_at", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("support_groups")
