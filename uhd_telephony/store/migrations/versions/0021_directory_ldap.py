"""the directory from LDAP / Active Directory: the state of each tenant's last sync

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference).
# The sources themselves are a file (UHD_LDAP_CONFIG): their bind passwords come from the environment.
TIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "directory_ldap_syncs",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=150), nullable=True),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("finished_at", TIME, nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column("result", JSON, nullable=True),
        sa.Column("last_ok_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("tenant", name="pk_directory_ldap_syncs"),
    )


def downgrade() -> None:
    op.drop_table("directory_ldap_syncs")
