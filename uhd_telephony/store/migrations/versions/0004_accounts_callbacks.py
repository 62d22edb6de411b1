"""accounts (with their tenants and Asterisk identity) and the callback list

Revision ID: 0004
Revises: 0003
Create Date: 2024-12-02 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("interface", sa.String(length=128), nullable=True),
        sa.Column("member_name", sa.String(length=200), nullable=True),
        sa.Column("phone_channel", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.UniqueConstraint("username", name="uq_accounts_username"),
        sa.UniqueConstraint("interface", name="uq_accounts_interface"),
    )
    op.create_table(
        "account_tenants",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_account_tenants_account_id_accounts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account_id", "tenant", name="pk_account_tenants"),
    )
    op.create_index("ix_account_tenants_tenant", "account_tenants", ["tenant"])
    op.create_table(
        "callbacks",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(), nullable=False),
        sa.Column("linkedid", sa.String(), nullable=False),
        sa.Column("caller_number", sa.String(length=64), nullable=False),
        sa.Column("caller_name", sa.String(length=200), nullable=False),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("queue", sa.String(), nullable=False),
        sa.Column("abandoned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("wait_s", sa.Double(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cleared_reason", sa.String(length=32), nullable=True),
        sa.Column("claimed_by", ID, nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["claimed_by"], ["accounts.id"], name="fk_callbacks_claimed_by_accounts", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_callbacks"),
        sa.UniqueConstraint("call_id", name="uq_callbacks_call_id"),
    )
    op.create_index("ix_callbacks_tenant_status_abandoned_at", "callbacks", ["tenant", "status", "abandoned_at"])


def downgrade() -> None:
    op.drop_index("ix_callbacks_tenant_status_abandoned_at", table_name="callbacks")
    op.drop_table("callbacks")
    op.drop_index("ix_account_tenants_tenant", table_name="account_tenants")
    op.drop_table("account_tenants")
    op.drop_table("accounts")
