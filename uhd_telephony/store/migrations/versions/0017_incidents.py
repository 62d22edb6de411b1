"""major incidents (Großstörungen): incidents, linked tickets, subscriptions

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference).
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)
NOTIFIED_VIA = "notified_via IS NULL OR notified_via IN ('mail', 'callback')"


def _account(column: str, table: str) -> sa.ForeignKeyConstraint:
    """An account that is deleted leaves the row without a name."""
    return sa.ForeignKeyConstraint([column], ["accounts.id"], name=f"fk_{table}_{column}_accounts", ondelete="SET NULL")


def upgrade() -> None:
    op.create_table(
        "major_incidents",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("caller_message", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=512), nullable=True),
        sa.Column("parent_ticket_id", ID, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("prompt", sa.String(length=255), nullable=True),
        sa.Column("known_at", TIME, nullable=False),
        sa.Column("declared_at", TIME, nullable=False),
        sa.Column("communicated_at", TIME, nullable=True),
        sa.Column("resolved_at", TIME, nullable=True),
        sa.Column("declared_by", ID, nullable=True),
        sa.Column("resolved_by", ID, nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('open', 'resolved')", name=op.f("ck_major_incidents_status")),
        sa.CheckConstraint("resolved_at IS NULL OR status = 'resolved'", name=op.f("ck_major_incidents_resolved")),
        sa.ForeignKeyConstraint(
            ["parent_ticket_id"], ["tickets.id"], name="fk_major_incidents_parent_ticket_id_tickets"
        ),
        _account("declared_by", "major_incidents"),
        _account("resolved_by", "major_incidents"),
        sa.PrimaryKeyConstraint("id", name="pk_major_incidents"),
    )
    op.create_index("ix_major_incidents_tenant_status", "major_incidents", ["tenant", "status"])
    op.create_index("ix_major_incidents_tenant_declared_at", "major_incidents", ["tenant", "declared_at"])
    op.create_index("ix_major_incidents_parent_ticket_id", "major_incidents", ["parent_ticket_id"], unique=True)
    op.create_table(
        "incident_tickets",
        sa.Column("ticket_id", ID, autoincrement=False, nullable=False),
        sa.Column("incident_id", ID, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("linked_by", ID, nullable=True),
        sa.Column("linked_at", TIME, nullable=False),
        sa.Column("notified_at", TIME, nullable=True),
        sa.Column("notified_via", sa.String(length=16), nullable=True),
        sa.CheckConstraint(NOTIFIED_VIA, name=op.f("ck_incident_tickets_notified_via")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name="fk_incident_tickets_ticket_id_tickets"),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["major_incidents.id"], name="fk_incident_tickets_incident_id_major_incidents"
        ),
        _account("linked_by", "incident_tickets"),
        sa.PrimaryKeyConstraint("ticket_id", name="pk_incident_tickets"),
    )
    op.create_index("ix_incident_tickets_incident_id", "incident_tickets", ["incident_id"])
    op.create_table(
        "incident_subscriptions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("incident_id", ID, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("linkedid", sa.String(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("notified_at", TIME, nullable=True),
        sa.Column("notified_via", sa.String(length=16), nullable=True),
        sa.CheckConstraint(NOTIFIED_VIA, name=op.f("ck_incident_subscriptions_notified_via")),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["major_incidents.id"], name="fk_incident_subscriptions_incident_id_major_incidents"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_incident_subscriptions"),
        # once per incident and number
        sa.UniqueConstraint("incident_id", "number", name="uq_incident_subscriptions_incident_id_number"),
    )
    op.create_table(
        "incident_settings",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("pileup_count", sa.SmallInteger(), nullable=False),
        sa.Column("pileup_minutes", sa.SmallInteger(), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("updated_by", ID, nullable=True),
        sa.CheckConstraint("pileup_count BETWEEN 2 AND 100", name=op.f("ck_incident_settings_pileup_count")),
        sa.CheckConstraint("pileup_minutes BETWEEN 1 AND 1440", name=op.f("ck_incident_settings_pileup_minutes")),
        _account("updated_by", "incident_settings"),
        sa.PrimaryKeyConstraint("tenant", name="pk_incident_settings"),
    )


def downgrade() -> None:
    op.drop_table("incident_settings")
    op.drop_table("incident_subscriptions")
    op.drop_index("ix_incident_tickets_incident_id", table_name="incident_tickets")
    op.drop_table("incident_tickets")
    op.drop_index("ix_major_incidents_parent_ticket_id", table_name="major_incidents")
    op.drop_index("ix_major_incidents_tenant_declared_at", table_name="major_incidents")
    op.drop_index("ix_major_incidents_tenant_status", table_name="major_incidents")
    op.drop_table("major_incidents")
