"""the major incidents' phone side (issue 18): no change to the calls table

The calls that ended at an incident's announcement are rows like any other: their outcomes (``incident_subscribed``,
``incident_left``) fit ``calls.outcome`` (VARCHAR(32), no CHECK), the incidents they heard are in ``calls.variables``
(``UHD_INCIDENT``), and the report finds them per incident by tenant and entry time (``ix_calls_tenant_entered_at``).
The revision stays in the chain as a no-op.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference).


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
