"""data protection: retention periods per tenant and data class, the tenants' pseudonym keys

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 23:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | Sequence[str] | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference).
TIME = sa.DateTime(timezone=True)
TENANT = sa.String(length=64)


def upgrade() -> None:
    op.create_table(
        "retention_periods",
        sa.Column("tenant", TENANT, nullable=False),
        sa.Column("data_class", sa.String(length=32), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("set_by", sa.String(length=100), nullable=False),
        sa.Column("set_at", TIME, nullable=False),
        sa.CheckConstraint("days >= 0", name=op.f("ck_retention_periods_days")),
        sa.PrimaryKeyConstraint("tenant", "data_class", name="pk_retention_periods"),
    )
    op.create_table(
        "privacy_keys",
        sa.Column("tenant", TENANT, nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("tenant", name="pk_privacy_keys"),
    )


def downgrade() -> None:
    op.drop_table("privacy_keys")
    op.drop_table("retention_periods")
