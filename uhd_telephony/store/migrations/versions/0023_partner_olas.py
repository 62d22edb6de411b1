"""support groups' own targets (OLAs) for work routed to them: the tenant's setup, each group's calendar and
targets per priority, each ticket's next OLA due instant, the OLA escalations (apart from the SLA's)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 22:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0023"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference).
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TENANT = sa.String(length=64)
GROUP = sa.String(length=64)


def upgrade() -> None:
    op.create_table(
        "ola_tenants",
        sa.Column("tenant", TENANT, nullable=False),
        sa.Column("warning_level", sa.SmallInteger(), nullable=False),
        sa.Column("breach_level", sa.SmallInteger(), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.CheckConstraint(
            "warning_level BETWEEN 1 AND 3 AND breach_level BETWEEN 1 AND 3", name=op.f("ck_ola_tenants_levels")
        ),
        sa.PrimaryKeyConstraint("tenant", name="pk_ola_tenants"),
    )
    op.create_table(
        "ola_groups",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tenant", TENANT, nullable=False),
        sa.Column("support_group", GROUP, nullable=False),
        sa.Column("calendar", JSON, nullable=False),
        sa.Column("unclassified_priority", sa.SmallInteger(), nullable=False),
        sa.CheckConstraint("unclassified_priority BETWEEN 1 AND 5", name=op.f("ck_ola_groups_unclassified_priority")),
        sa.ForeignKeyConstraint(
            ["tenant", "support_group"],
            ["support_groups.tenant", "support_groups.code"],
            name="fk_ola_groups_tenant_support_groups",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ola_groups"),
        sa.UniqueConstraint("tenant", "support_group", name="uq_ola_groups_tenant_support_group"),
    )
    op.create_table(
        "ola_policies",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tenant", TENANT, nullable=False),
        sa.Column("support_group", GROUP, nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("response_s", sa.Integer(), nullable=False),
        sa.Column("resolution_s", sa.Integer(), nullable=False),
        sa.Column("warn_share", sa.Float(), nullable=False),
        sa.Column("around_the_clock", sa.Boolean(), nullable=False),
        sa.CheckConstraint("priority BETWEEN 1 AND 5", name=op.f("ck_ola_policies_priority")),
        sa.CheckConstraint("response_s > 0 AND resolution_s > 0", name=op.f("ck_ola_policies_targets")),
        sa.CheckConstraint("warn_share > 0 AND warn_share <= 1", name=op.f("ck_ola_policies_warn_share")),
        sa.ForeignKeyConstraint(
            ["tenant", "support_group"],
            ["ola_groups.tenant", "ola_groups.support_group"],
            name="fk_ola_policies_tenant_ola_groups",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ola_policies"),
        sa.UniqueConstraint(
            "tenant", "support_group", "priority", name="uq_ola_policies_tenant_support_group_priority"
        ),
    )
    op.create_table(
        "ola_timers",
        sa.Column("ticket_id", ID, autoincrement=False, nullable=False),
        sa.Column("tenant", TENANT, nullable=False),
        sa.Column("next_due_at", TIME, nullable=True),
        sa.Column("computed_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name="fk_ola_timers_ticket_id_tickets"),
        sa.PrimaryKeyConstraint("ticket_id", name="pk_ola_timers"),
    )
    # the OLA scanner's query, in its order: only timers with a due instant are in the index
    op.create_index(
        "ix_ola_timers_next_due_at",
        "ola_timers",
        ["next_due_at", "ticket_id"],
        sqlite_where=sa.text("next_due_at IS NOT NULL"),
        postgresql_where=sa.text("next_due_at IS NOT NULL"),
    )
    op.create_table(
        "ola_escalations",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("ticket_id", ID, nullable=False),
        sa.Column("tenant", TENANT, nullable=False),
        sa.Column("support_group", GROUP, nullable=False),
        sa.Column("routed_id", ID, nullable=False),
        sa.Column("routed_at", TIME, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("due_at", TIME, nullable=False),
        sa.Column("fired_at", TIME, nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=True),
        sa.Column("notified", JSON, nullable=False),
        sa.CheckConstraint("kind IN ('warning', 'breach')", name=op.f("ck_ola_escalations_kind")),
        sa.CheckConstraint("target IN ('response', 'resolution')", name=op.f("ck_ola_escalations_target")),
        sa.CheckConstraint("level BETWEEN 1 AND 3", name=op.f("ck_ola_escalations_level")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name="fk_ola_escalations_ticket_id_tickets"),
        sa.PrimaryKeyConstraint("id", name="pk_ola_escalations"),
        # fired once per routing: a second instance's (or a retried) insert of the same escalation does nothing
        sa.UniqueConstraint(
            "ticket_id", "routed_id", "kind", "target", name="uq_ola_escalations_ticket_id_routed_id_kind_target"
        ),
    )
    op.create_index("ix_ola_escalations_tenant_fired_at", "ola_escalations", ["tenant", "fired_at"])


def downgrade() -> None:
    op.drop_index("ix_ola_escalations_tenant_fired_at", table_name="ola_escalations")
    op.drop_table("ola_escalations")
    op.drop_index("ix_ola_timers_next_due_at", table_name="ola_timers")
    op.drop_table("ola_timers")
    op.drop_table("ola_policies")
    op.drop_table("ola_groups")
    op.drop_table("ola_tenants")
