"""SLA: each tenant's calendar, policies and escalation contacts, per-ticket due timers, escalations

Revision ID: 0008
Revises: 0007
Create Date: 2024-12-13 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "sla_tenants",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("calendar", JSON, nullable=False),
        sa.Column("unclassified_priority", sa.SmallInteger(), nullable=False),
        sa.Column("warning_level", sa.SmallInteger(), nullable=False),
        sa.Column("breach_level", sa.SmallInteger(), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.CheckConstraint("unclassified_priority BETWEEN 1 AND 5", name=op.f("ck_sla_tenants_unclassified_priority")),
        sa.CheckConstraint(
            "warning_level BETWEEN 1 AND 3 AND breach_level BETWEEN 1 AND 3", name=op.f("ck_sla_tenants_levels")
        ),
        sa.PrimaryKeyConstraint("tenant", name="pk_sla_tenants"),
    )
    op.create_table(
        "sla_policies",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("response_s", sa.Integer(), nullable=False),
        sa.Column("resolution_s", sa.Integer(), nullable=False),
        sa.Column("warn_share", sa.Float(), nullable=False),
        sa.Column("around_the_clock", sa.Boolean(), nullable=False),
        sa.CheckConstraint("priority BETWEEN 1 AND 5", name=op.f("ck_sla_policies_priority")),
        sa.CheckConstraint("response_s > 0 AND resolution_s > 0", name=op.f("ck_sla_policies_targets")),
        sa.CheckConstraint("warn_share > 0 AND warn_share <= 1", name=op.f("ck_sla_policies_warn_share")),
        sa.PrimaryKeyConstraint("id", name="pk_sla_policies"),
        sa.UniqueConstraint("tenant", "priority", name="uq_sla_policies_tenant_priority"),
    )
    op.create_table(
        "sla_contacts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("category", sa.String(length=512), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("mail", sa.String(length=1000), nullable=True),
        sa.Column("webhook_url", sa.String(length=2000), nullable=True),
        sa.Column("webhook_secret", sa.String(length=200), nullable=True),
        sa.CheckConstraint("level BETWEEN 1 AND 3", name=op.f("ck_sla_contacts_level")),
        sa.CheckConstraint(
            "webhook_url IS NULL OR webhook_secret IS NOT NULL", name=op.f("ck_sla_contacts_webhook_signed")
        ),
        sa.CheckConstraint("mail IS NOT NULL OR webhook_url IS NOT NULL", name=op.f("ck_sla_contacts_reachable")),
        sa.PrimaryKeyConstraint("id", name="pk_sla_contacts"),
    )
    op.create_index("ix_sla_contacts_tenant_level", "sla_contacts", ["tenant", "level"])
    op.create_table(
        "sla_timers",
        sa.Column("ticket_id", ID, autoincrement=False, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("next_due_at", TIME, nullable=True),
        sa.Column("computed_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name="fk_sla_timers_ticket_id_tickets"),
        sa.PrimaryKeyConstraint("ticket_id", name="pk_sla_timers"),
    )
    # the scanner's query, in its order: only timers with a due instant are in the index
    op.create_index(
        "ix_sla_timers_next_due_at",
        "sla_timers",
        ["next_due_at", "ticket_id"],
        sqlite_where=sa.text("next_due_at IS NOT NULL"),
        postgresql_where=sa.text("next_due_at IS NOT NULL"),
    )
    op.create_table(
        "escalations",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("ticket_id", ID, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("due_at", TIME, nullable=False),
        sa.Column("fired_at", TIME, nullable=False),
        sa.Column("category_id", ID, nullable=True),
        sa.Column("priority", sa.SmallInteger(), nullable=True),
        sa.Column("notified", JSON, nullable=False),
        sa.Column("acknowledged_by", sa.String(length=128), nullable=True),
        sa.Column("acknowledged_at", TIME, nullable=True),
        sa.Column("de_escalated_by", sa.String(length=128), nullable=True),
        sa.Column("de_escalated_at", TIME, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('warning', 'breach')", name=op.f("ck_escalations_kind")),
        sa.CheckConstraint("target IN ('response', 'resolution')", name=op.f("ck_escalations_target")),
        sa.CheckConstraint("level BETWEEN 1 AND 3", name=op.f("ck_escalations_level")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name="fk_escalations_ticket_id_tickets"),
        sa.PrimaryKeyConstraint("id", name="pk_escalations"),
        # fired once: a second instance's (or a retried) insert of the same escalation does nothing
        sa.UniqueConstraint("ticket_id", "kind", "target", name="uq_escalations_ticket_id_kind_target"),
    )
    op.create_index("ix_escalations_tenant_fired_at", "escalations", ["tenant", "fired_at"])


def downgrade() -> None:
    op.drop_index("ix_escalations_tenant_fired_at", table_name="escalations")
    op.drop_table("escalations")
    op.drop_index("ix_sla_timers_next_due_at", table_name="sla_timers")
    op.drop_table("sla_timers")
    op.drop_index("ix_sla_contacts_tenant_level", table_name="sla_contacts")
    op.drop_table("sla_contacts")
    op.drop_table("sla_policies")
    op.drop_table("sla_tenants")
