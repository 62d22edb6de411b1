"""KPI history: kpi_daily, one row of kpi.py's figures per tenant and Berlin calendar day

Revision ID: 0009
Revises: 0008
Create Date: 2024-12-20 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference).
# The Grafana reader's SELECT on this table is not granted here: postgres/initdb/10-grafana-reader.sh installs an
# event trigger that grants it whenever this table is created (see that script).
TIME = sa.DateTime(timezone=True)
COUNTS = (
    "calls_offered",
    "calls_answered",
    "calls_answered_within_service_level",
    "calls_abandoned",
    "short_abandons",
    "calls_timed_out",
    "calls_outside_hours",
    "calls_closed",
    "transfers_in",
    "calls_in_progress",
)
CALL_VALUES = (
    "reachability",
    "service_level",
    "abandon_rate",
    "reaction_time_mean_s",
    "reaction_time_median_s",
    "reaction_time_p90_s",
    "talk_time_mean_s",
)


def upgrade() -> None:
    op.create_table(
        "kpi_daily",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("service_level_s", sa.Float(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS),
        *(sa.Column(name, sa.Float(), nullable=True) for name in CALL_VALUES),
        sa.Column("tickets_created", sa.Integer(), nullable=False),
        sa.Column("tickets_routed", sa.Integer(), nullable=False),
        sa.Column("tickets_escalated", sa.Integer(), nullable=False),
        sa.Column("tickets_forwarded", sa.Integer(), nullable=False),
        sa.Column("escalation_time_mean_s", sa.Float(), nullable=True),
        sa.Column("escalation_time_p90_s", sa.Float(), nullable=True),
        sa.Column("tickets_resolved_first_level", sa.Integer(), nullable=False),
        sa.Column("first_contact_resolution", sa.Float(), nullable=True),
        sa.Column("computed_at", TIME, nullable=False),
        # the writer's upsert key, and the dashboard's "one tenant, a range of days"
        sa.PrimaryKeyConstraint("tenant", "day", name="pk_kpi_daily"),
    )


def downgrade() -> None:
    op.drop_table("kpi_daily")
