"""directory: users, places (ward phones, DECT pools), their phone numbers, each tenant's numbering plan

Revision ID: 0002
Revises: 0001
Create Date: 2024-11-28 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _timestamps() -> list[sa.Column[Any]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "directory_numbering",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=2), nullable=False),
        sa.Column("extension_prefix", sa.String(length=32), nullable=True),
        sa.Column("max_extension_length", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", name="pk_directory_numbering"),
    )
    op.create_table(
        "directory_users",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("department", sa.String(length=200), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("vip", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("search_text", sa.String(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_directory_users"),
        sa.UniqueConstraint("tenant", "external_id", name="uq_directory_users_tenant_external_id"),
    )
    op.create_table(
        "directory_places",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("department", sa.String(length=200), nullable=True),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("search_text", sa.String(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_directory_places"),
        sa.UniqueConstraint("tenant", "external_id", name="uq_directory_places_tenant_external_id"),
    )
    op.create_table(
        "directory_phones",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("place_id", ID, nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("raw", sa.String(length=64), nullable=False),
        sa.CheckConstraint("(user_id IS NULL) <> (place_id IS NULL)", name=op.f("ck_directory_phones_owner")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["directory_users.id"],
            name="fk_directory_phones_user_id_directory_users",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["place_id"],
            ["directory_places.id"],
            name="fk_directory_phones_place_id_directory_places",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_directory_phones"),
    )
    op.create_index("ix_directory_phones_tenant_number", "directory_phones", ["tenant", "number"])
    op.create_index("ix_directory_phones_user_id", "directory_phones", ["user_id"])
    op.create_index("ix_directory_phones_place_id", "directory_phones", ["place_id"])


def downgrade() -> None:
    op.drop_index("ix_directory_phones_place_id", table_name="directory_phones")
    op.drop_index("ix_directory_phones_user_id", table_name="directory_phones")
    op.drop_index("ix_directory_phones_tenant_number", table_name="directory_phones")
    op.drop_table("directory_phones")
    op.drop_table("directory_places")
    op.drop_table("directory_users")
    op.drop_table("directory_numbering")
