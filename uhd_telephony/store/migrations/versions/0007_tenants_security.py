"""tenants with their hotlines, API tokens, the audit log, a partner account's group

Revision ID: 0007
Revises: 0006
Create Date: 2024-12-12 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("region", sa.String(length=2), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIME, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", name="pk_tenants"),
    )
    op.create_table(
        "tenant_hotlines",
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("queue", sa.String(length=128), nullable=False),
        sa.Column("created_at", TIME, server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant"], ["tenants.tenant"], name="fk_tenant_hotlines_tenant_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("number", name="pk_tenant_hotlines"),
    )
    op.create_index("ix_tenant_hotlines_tenant", "tenant_hotlines", ["tenant"])
    op.create_table(
        "api_tokens",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("tenants", JSON, nullable=False),
        sa.Column("created_at", TIME, server_default=sa.func.now(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column("last_used_at", TIME, nullable=True),
        sa.Column("expires_at", TIME, nullable=True),
        sa.Column("revoked_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_api_tokens_account_id_accounts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
    )
    op.create_index("ix_api_tokens_account_id", "api_tokens", ["account_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("at", TIME, server_default=sa.func.now(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("details", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_action_at", "audit_log", ["action", "at"])
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("partner_group", sa.String(length=64), nullable=True))

    # the tenants an installation already has (as strings on accounts and category trees) become rows, so the
    # admin API, which grants only tenants that exist, can go on granting them
    tenants = sa.table(
        "tenants",
        sa.column("tenant", sa.String),
        sa.column("name", sa.String),
        sa.column("region", sa.String),
        sa.column("time_zone", sa.String),
        sa.column("active", sa.Boolean),
    )
    known = sa.union(
        sa.select(sa.column("tenant")).select_from(sa.table("account_tenants", sa.column("tenant"))),
        sa.select(sa.column("tenant")).select_from(sa.table("categories", sa.column("tenant"))),
    ).subquery()
    op.execute(
        tenants.insert().from_select(
            ["tenant", "name", "region", "time_zone", "active"],
            sa.select(
                known.c.tenant,
                known.c.tenant,
                sa.literal("DE"),
                sa.literal("Europe/Berlin"),
                sa.true(),
            ),
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("partner_group")
    op.drop_index("ix_audit_log_action_at", table_name="audit_log")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_api_tokens_account_id", table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_index("ix_tenant_hotlines_tenant", table_name="tenant_hotlines")
    op.drop_table("tenant_hotlines")
    op.drop_table("tenants")
