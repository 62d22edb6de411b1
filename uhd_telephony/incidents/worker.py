"""The incident scanner: completes the notices of resolved incidents and offers pile-ups to the consoles.

- A resolved incident whose linked tickets or subscribers are not all told — its parent ticket resolved on the
  ticket page (the history's hook resolved the incident, nobody ran its cascade), or a cascade cut off by a crash
  or a database outage — is completed here (``cascade.complete``, as the system). A parent resolved in this
  process wakes the scanner (after a moment: the resolve commits first).
- Pile-ups (``incidents.pileup``) of the tenants that have console accounts are offered once each: ``offer``
  pushes it (the plugin: to the consoles of the tenant's agents through the pop fan-out, and an
  ``IncidentSuggested`` event on the bus). One that vanished — declared, or its tickets aged out of the window —
  is offered again when it comes back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from uhd_telephony.accounts.models import Account, AccountTenant
from uhd_telephony.incidents import cascade, pileup
from uhd_telephony.incidents.pileup import Suggestion
from uhd_telephony.incidents.service import IncidentService
from uhd_telephony.runtime.scanner import PeriodicScanner
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.history import SYSTEM

log = logging.getLogger(__name__)

NUDGE_DELAY_S = 0.5  # a parent's resolve wakes the scanner from inside its transaction: let it commit first
CONSOLE_ROLES = ("agent", "admin")
# (tenant, the pile-up, the accounts whose consoles may show it)
Offer = Callable[[str, Suggestion, list[int]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class IncidentSuggested:
    """A domain event: tickets of one category of a tenant piled up and no open incident covers them."""

    tenant: str
    suggestion: Suggestion


async def console_accounts(db: Database) -> dict[str, list[int]]:
    """tenant -> the active accounts with a console (agents, admins) that work for it."""
    stmt = (
        select(AccountTenant.tenant, Account.id)
        .join(Account, Account.id == AccountTenant.account_id)
        .where(Account.active.is_(True), Account.role.in_(CONSOLE_ROLES))
        .order_by(AccountTenant.tenant, Account.id)
    )
    out: dict[str, list[int]] = {}
    async with db.engine.connect() as conn:
        for tenant, account in await conn.execute(stmt):
            out.setdefault(tenant, []).append(int(account))
    return out


class IncidentScanner(PeriodicScanner):
    """Every ``interval_s``: the pending notices, then the pile-ups (module docstring)."""

    label = "incident scan"

    def __init__(self, service: IncidentService, *, interval_s: float = 15.0, offer: Offer | None = None) -> None:
        super().__init__(service.db, interval_s=interval_s, clock=service.now)
        self.service = service
        self.offer = offer
        self.told = 0
        self.offered = 0
        self._nudged = False
        self._shown: set[tuple[str, str]] = set()  # (tenant, category) offered and still piled up

    def health(self) -> dict[str, Any]:
        return {"told": self.told, "offered": self.offered, "last_error": self.last_error}

    async def start(self) -> None:
        cascade.when_resolved(self.nudge)
        await super().start()

    async def close(self) -> None:
        cascade.forget(self.nudge)
        await super().close()

    def nudge(self) -> None:
        """A parent ticket's resolve resolved an incident: scan soon."""
        self._nudged = True
        self.wake()

    async def scan_once(self) -> int:
        if self._nudged:
            self._nudged = False
            await asyncio.sleep(NUDGE_DELAY_S)
        return await self.complete_pending() + await self.offer_pile_ups()

    async def complete_pending(self) -> int:
        """Complete the cascade of every resolved incident with callers not told yet; how many were told."""
        async with self.db.engine.connect() as conn:
            waiting = await cascade.pending_incidents(conn, self.batch_size)
        told = 0
        for incident_id in waiting:
            told += await cascade.complete(self.service.workflow, incident_id, SYSTEM)
        if told:
            log.info("incident scan: %d callers of %d resolved incidents told", told, len(waiting))
        self.told += told
        return told

    async def offer_pile_ups(self) -> int:
        """Offer each new pile-up of the tenants with consoles once; how many were offered now."""
        if self.offer is None:
            return 0
        now = self.clock()
        shown: set[tuple[str, str]] = set()
        offered = 0
        for tenant, agents in (await console_accounts(self.db)).items():
            async with self.db.engine.connect() as conn:
                _, found = await pileup.suggestions(conn, tenant, now)
            for suggestion in found:
                key = (tenant, suggestion.category)
                shown.add(key)
                if key not in self._shown:
                    await self.offer(tenant, suggestion, agents)
                    offered += 1
        self._shown = shown
        self.offered += offered
        return offered
