"""tickets: one ticket per call conversation in the whole installation, not per tenant

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference).
# A Linkedid names one conversation on the PBX whatever tenant the service first took it for: a call rebuilt by a
# resync before its UHD_TENANT was known must find the ticket opened for it, not open a second one elsewhere.


def upgrade() -> None:
    # SQLite cannot alter a table in place: batch mode rebuilds it (no-op elsewhere)
    with op.batch_alter_table("tickets") as batch:
        batch.drop_constraint("uq_tickets_tenant_call_linkedid", type_="unique")
        batch.create_unique_constraint("uq_tickets_call_linkedid", ["call_linkedid"])


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_constraint("uq_tickets_call_linkedid", type_="unique")
        batch.create_unique_constraint("uq_tickets_tenant_call_linkedid", ["tenant", "call_linkedid"])
