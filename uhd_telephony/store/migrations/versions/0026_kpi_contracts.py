"""KPIs as the contract defines them: per tenant, valid from the 1st of a month (issue 20 item 1)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-08 01:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0026"
down_revision: str | Sequence[str] | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference).
# No row for a tenant: the SPEC's definitions (tenants.contract.KpiRules' defaults), as before this migration.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)
TENANT = sa.String(length=64)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "kpi_contracts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tenant", TENANT, nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("service_level_s", sa.Double(), nullable=False),
        sa.Column("short_abandon_s", sa.Double(), nullable=False),
        sa.Column("abandons_in_service_level", sa.Boolean(), nullable=False),
        sa.Column("short_abandons_in_base", sa.Boolean(), nullable=False),
        sa.Column("outside_hours_count", sa.Boolean(), nullable=False),
        sa.Column("queues", JSON, nullable=True),
        sa.Column("callback_window_s", sa.Double(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("changed_by", sa.String(length=100), nullable=False),
        sa.Column("changed_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kpi_contracts"),
        sa.UniqueConstraint("tenant", "valid_from", name="uq_kpi_contracts_tenant_valid_from"),
    )


def downgrade() -> None:
    op.drop_table("kpi_contracts")
