"""the monthly report's partial indexes: transferred stays (calls), routing and escalation rows (ticket_history)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference);
# declared in metrics/models.py beside the statements that read them (metrics.aggregates). Both are partial: a
# few percent of the rows, so their upkeep on the calls' and the history's inserts is small.
TRANSFERRED = sa.text("outcome = 'transferred'")
FORWARDING = sa.text("action IN ('routed', 'escalated')")


def upgrade() -> None:
    op.create_index(
        "ix_calls_transferred",
        "calls",
        ["tenant", "entered_at"],
        postgresql_include=["linkedid", "id"],
        postgresql_where=TRANSFERRED,
        sqlite_where=TRANSFERRED,
    )
    op.create_index(
        "ix_ticket_history_forwarding",
        "ticket_history",
        ["ticket_id"],
        postgresql_include=["action", "new_value", "at"],
        postgresql_where=FORWARDING,
        sqlite_where=FORWARDING,
    )


def downgrade() -> None:
    op.drop_index("ix_ticket_history_forwarding", table_name="ticket_history")
    op.drop_index("ix_calls_transferred", table_name="calls")
