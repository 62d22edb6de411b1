"""requests by mail: received messages, attachments, the helpdesk addresses

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference).
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "mail_in_addresses",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIME, server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant"], ["tenants.tenant"], name="fk_mail_in_addresses_tenant_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_mail_in_addresses"),
        sa.UniqueConstraint("address", name="uq_mail_in_addresses_address"),
    )
    op.create_index("ix_mail_in_addresses_tenant", "mail_in_addresses", ["tenant"])
    op.create_table(
        "mail_in_messages",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("ticket_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sender", sa.String(length=254), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("received_at", TIME, nullable=False),
        sa.CheckConstraint("kind IN ('ticket', 'comment', 'note')", name=op.f("ck_mail_in_messages_kind")),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name="fk_mail_in_messages_ticket_id_tickets", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_mail_in_messages"),
        sa.UniqueConstraint("tenant", "message_id", name="uq_mail_in_messages_tenant_message_id"),
    )
    op.create_index("ix_mail_in_messages_ticket_id", "mail_in_messages", ["ticket_id"])
    op.create_table(
        "mail_in_attachments",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", ID, nullable=False),
        sa.Column("mail_id", ID, nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["mail_id"],
            ["mail_in_messages.id"],
            name="fk_mail_in_attachments_mail_id_mail_in_messages",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name="fk_mail_in_attachments_ticket_id_tickets", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_mail_in_attachments"),
    )
    op.create_index("ix_mail_in_attachments_tenant_ticket_id", "mail_in_attachments", ["tenant", "ticket_id"])
    op.create_index("ix_mail_in_attachments_mail_id", "mail_in_attachments", ["mail_id"])


def downgrade() -> None:
    op.drop_index("ix_mail_in_attachments_mail_id", table_name="mail_in_attachments")
    op.drop_index("ix_mail_in_attachments_tenant_ticket_id", table_name="mail_in_attachments")
    op.drop_table("mail_in_attachments")
    op.drop_index("ix_mail_in_messages_ticket_id", table_name="mail_in_messages")
    op.drop_table("mail_in_messages")
    op.drop_index("ix_mail_in_addresses_tenant", table_name="mail_in_addresses")
    op.drop_table("mail_in_addresses")
