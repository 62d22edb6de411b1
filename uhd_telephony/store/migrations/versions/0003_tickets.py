"""tickets: category tree per tenant, tickets (one per call conversation), append-only history, number counter

Revision ID: 0003
Revises: 0002
Create Date: 2024-11-28 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)


def _level(column: str) -> str:
    return f"{column} IS NULL OR {column} BETWEEN 1 AND 5"


def upgrade() -> None:
    op.create_table(
        "categories",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("parent_id", ID, nullable=True),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("support_group", sa.String(length=64), nullable=False),
        sa.Column("default_impact", sa.SmallInteger(), nullable=True),
        sa.Column("default_urgency", sa.SmallInteger(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", TIME, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TIME, server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(_level("default_impact"), name=op.f("ck_categories_default_impact")),
        sa.CheckConstraint(_level("default_urgency"), name=op.f("ck_categories_default_urgency")),
        sa.ForeignKeyConstraint(
            ["tenant", "parent_id"],
            ["categories.tenant", "categories.id"],
            name="fk_categories_tenant_categories",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_categories"),
        sa.UniqueConstraint("tenant", "id", name="uq_categories_tenant_id"),
        sa.UniqueConstraint("tenant", "path", name="uq_categories_tenant_path"),
    )
    op.create_index("ix_categories_tenant_parent_id", "categories", ["tenant", "parent_id"])

    op.create_table(
        "tickets",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("requester_user_id", ID, nullable=True),
        sa.Column("requester_place_id", ID, nullable=True),
        sa.Column("requester_number", sa.String(length=64), nullable=False),
        sa.Column("requester_name", sa.String(length=200), nullable=False),
        sa.Column("vip", sa.Boolean(), nullable=False),
        sa.Column("call_id", sa.String(), nullable=True),
        sa.Column("call_linkedid", sa.String(), nullable=True),
        sa.Column("agent_id", ID, nullable=True),
        sa.Column("agent_name", sa.String(length=200), nullable=True),
        sa.Column("category_id", ID, nullable=True),
        sa.Column("impact", sa.SmallInteger(), nullable=True),
        sa.Column("urgency", sa.SmallInteger(), nullable=True),
        sa.Column("priority", sa.SmallInteger(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("first_response_at", TIME, nullable=True),
        sa.Column("resolved_at", TIME, nullable=True),
        sa.Column("closed_at", TIME, nullable=True),
        sa.CheckConstraint(
            "status IN ('new', 'in_progress', 'waiting', 'resolved', 'closed', 'reopened')",
            name=op.f("ck_tickets_status"),
        ),
        sa.CheckConstraint("channel IN ('phone', 'web', 'mail')", name=op.f("ck_tickets_channel")),
        sa.CheckConstraint(_level("impact"), name=op.f("ck_tickets_impact")),
        sa.CheckConstraint(_level("urgency"), name=op.f("ck_tickets_urgency")),
        sa.CheckConstraint(_level("priority"), name=op.f("ck_tickets_priority")),
        sa.ForeignKeyConstraint(
            ["tenant", "category_id"],
            ["categories.tenant", "categories.id"],
            name="fk_tickets_tenant_categories",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_tickets"),
        sa.UniqueConstraint("number", name="uq_tickets_number"),
        # one ticket per call conversation, whatever transfers, replays or instances try: enforced here
        sa.UniqueConstraint("tenant", "call_linkedid", name="uq_tickets_tenant_call_linkedid"),
    )
    op.create_index("ix_tickets_tenant_created_at", "tickets", ["tenant", "created_at"])
    op.create_index("ix_tickets_tenant_status", "tickets", ["tenant", "status"])
    op.create_index("ix_tickets_tenant_requester_user_id", "tickets", ["tenant", "requester_user_id", "created_at"])
    op.create_index("ix_tickets_tenant_requester_number", "tickets", ["tenant", "requester_number", "created_at"])

    op.create_table(
        "ticket_history",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("ticket_id", ID, nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=True),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name="fk_ticket_history_ticket_id_tickets"),
        sa.PrimaryKeyConstraint("id", name="pk_ticket_history"),
    )
    op.create_index("ix_ticket_history_ticket_id", "ticket_history", ["ticket_id", "id"])

    op.create_table(
        "ticket_counters",
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("scope", name="pk_ticket_counters"),
    )


def downgrade() -> None:
    op.drop_table("ticket_counters")
    op.drop_index("ix_ticket_history_ticket_id", table_name="ticket_history")
    op.drop_table("ticket_history")
    op.drop_index("ix_tickets_tenant_requester_number", table_name="tickets")
    op.drop_index("ix_tickets_tenant_requester_user_id", table_name="tickets")
    op.drop_index("ix_tickets_tenant_status", table_name="tickets")
    op.drop_index("ix_tickets_tenant_created_at", table_name="tickets")
    op.drop_table("tickets")
    op.drop_index("ix_categories_tenant_parent_id", table_name="categories")
    op.drop_table("categories")
