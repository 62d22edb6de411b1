"""satisfaction ratings of resolved tickets

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference).
# One rating per ticket (the unique ticket_id), nothing about the rater beyond the ticket (feedback.models); and
# the index of the tickets resolved in a period the satisfaction's response rate counts (metrics.models).
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ticket_ratings",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("ticket_id", Id, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.String(length=1000), nullable=True),
        sa.Column("category", sa.String(length=512), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("commented_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name=op.f("ck_ticket_ratings_score")),
        sa.CheckConstraint("comment IS NULL OR commented_at IS NOT NULL", name=op.f("ck_ticket_ratings_commented")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_ratings_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_ratings")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_ticket_ratings_ticket_id")),
    )
    op.create_index("ix_ticket_ratings_tenant_created_at", "ticket_ratings", ["tenant", "created_at"])
    # the base of the response rate: the tickets resolved in a period (metrics.models)
    op.create_index(
        "ix_tickets_tenant_resolved_at",
        "tickets",
        ["tenant", "resolved_at"],
        postgresql_include=["category_id"],
        postgresql_where=sa.text("resolved_at IS NOT NULL"),
        sqlite_where=sa.text("resolved_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_tenant_resolved_at", table_name="tickets")
    op.drop_index("ix_ticket_ratings_tenant_created_at", table_name="ticket_ratings")
    op.drop_table("ticket_ratings")
