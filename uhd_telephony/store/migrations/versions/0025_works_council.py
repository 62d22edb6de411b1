"""works council and § 203 StGB: per-agent figures enabled by a works agreement (who, when, reference), the
confidentiality acknowledgement on accounts, the audit log's tenant (what the data-protection officer role reads)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 23:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | Sequence[str] | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference).
# The data-protection officer role ("dpo") needs no schema: accounts.role is checked by the service, not a CHECK.
# Every account there is acknowledges the confidentiality text at its next login (confidentiality_version NULL).
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)
TENANT = sa.String(length=64)


def upgrade() -> None:
    op.create_table(
        "works_agreement_changes",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tenant", TENANT, nullable=False),
        sa.Column("per_agent_figures", sa.Boolean(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("changed_by", sa.String(length=100), nullable=False),
        sa.Column("changed_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_works_agreement_changes"),
    )
    op.create_index("ix_works_agreement_changes_tenant_id", "works_agreement_changes", ["tenant", "id"])
    # SQLite cannot alter a table in place: batch mode rebuilds it (no-op elsewhere)
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("confidentiality_version", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("confidentiality_at", TIME, nullable=True))
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("tenant", TENANT, nullable=True))
        batch.create_index("ix_audit_log_tenant_at", ["tenant", "at"])


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_index("ix_audit_log_tenant_at")
        batch.drop_column("tenant")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("confidentiality_at")
        batch.drop_column("confidentiality_version")
    op.drop_index("ix_works_agreement_changes_tenant_id", table_name="works_agreement_changes")
    op.drop_table("works_agreement_changes")
