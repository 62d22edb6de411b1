"""OLA fixtures: the SLA world (``tests/sla/conftest.py``) with support groups, their OLAs and a partner's account.

Groups of tenant klinikum-nord: ``partner:medisoft`` (mail in English, response 1 h and resolution 4 h at
priority 3), ``2nd_level`` (German, response 30 min and resolution 2 h), ``partner:other`` (no OLA); business
hours Mon-Fri 08:00-17:00 with NW's holidays, as the SLA's. The other tenant has a ``partner:medisoft`` of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.sla.conftest import MONDAY_9, OTHER, TENANT, World
from uhd_telephony.accounts.service import AccountService
from uhd_telephony.sla.models import ola_escalations, ola_timers
from uhd_telephony.sla.ola_escalation import OlaScanner
from uhd_telephony.sla.ola_policy import import_ola
from uhd_telephony.tickets.groups import import_groups

PARTNER, SECOND, NO_OLA = "partner:medisoft", "2nd_level", "partner:other"
PARTNER_MAIL = "support@medisoft.example"
SECOND_MAIL = "2nd-level@klinik-it.example"
HOURS = {day: ["08:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
PASSWORD = "ein langes Passwort 42!"


def groups_data() -> list[dict[str, Any]]:
    return [
        {"code": PARTNER, "name": "Medisoft", "mail": [PARTNER_MAIL], "locale": "en"},
        {"code": SECOND, "name": "2nd-Level-Support Klinik-IT", "mail": [SECOND_MAIL]},
        {"code": NO_OLA, "name": "Andere Firma", "mail": ["orders@other.example"]},
    ]


def ola_data(**changes: Any) -> dict[str, Any]:
    """Priority 3 (unclassified tickets too): Medisoft 1 h / 4 h, 2nd level 30 min / 2 h; warnings at 75 %."""
    data: dict[str, Any] = {
        "calendar": {"hours": HOURS, "holidays": {"state": "NW"}},
        "groups": {
            PARTNER: {"policies": {3: {"response": "1h", "resolution": "4h"}, 1: {"response": "15m",
                                                                                "resolution": "1h"}}},
            SECOND: {"policies": {3: {"response": "30m", "resolution": "2h"}}},
        },
    }  # fmt: skip
    data.update(changes)
    return data


@dataclass
class OlaWorld:
    """The SLA world with groups, OLAs, an OLA scanner on its clock and the partner's account actor."""

    w: World
    scanner: OlaScanner
    partner: str  # partner:<id>, Medisoft's account
    stranger: str  # partner:<id>, the account of another partner firm

    async def route(self, ticket_id: int, group: str, at: datetime, *, tenant: str = TENANT) -> None:
        self.w.at(at)
        await self.w.workflow.route(tenant, ticket_id, group=group, reason="Herstellersupport", actor="agent:3")

    async def scan(self, at: datetime) -> int:
        self.w.at(at)
        return await self.scanner.scan_once()

    async def due(self, ticket_id: int) -> datetime | None:
        stmt = select(ola_timers.c.next_due_at).where(ola_timers.c.ticket_id == ticket_id)
        async with self.w.db.engine.connect() as conn:
            found: datetime | None = (await conn.execute(stmt)).scalar()
        return found

    async def fired(self, ticket_id: int | None = None) -> list[tuple[str, str, str]]:
        """(group, target, kind) of the OLA escalations, oldest first."""
        stmt = select(ola_escalations).order_by(ola_escalations.c.id)
        if ticket_id is not None:
            stmt = stmt.where(ola_escalations.c.ticket_id == ticket_id)
        async with self.w.db.engine.connect() as conn:
            return [(r.support_group, r.target, r.kind) for r in await conn.execute(stmt)]


async def make_ola_world(w: World) -> OlaWorld:
    for tenant in (TENANT, OTHER):
        await import_groups(w.db, tenant, groups_data())
    await import_ola(w.db, TENANT, ola_data(), now=MONDAY_9 - timedelta(days=1))
    accounts = AccountService(w.db)
    medisoft = await accounts.create("medisoft", PASSWORD, role="partner", tenants=[TENANT], partner_group=PARTNER)
    other = await accounts.create("other", PASSWORD, role="partner", tenants=[TENANT], partner_group=NO_OLA)
    return OlaWorld(w, OlaScanner(w.db, clock=w.clock), f"partner:{medisoft.id}", f"partner:{other.id}")


@pytest.fixture
async def ola(world: World) -> AsyncIterator[OlaWorld]:
    yield await make_ola_world(world)
