"""The scan over persisted due instants that fires escalations in bulk: the SLA's (``sla_timers``) and the
support groups' OLAs (``ola_timers``) run the same machinery, each over its own table.

A scan pages through the due timers with an indexed query (``batch_size`` at a time, in the index's order) until
none is left, and fires each page in one transaction (``fire_due``: claim the page's timers, recompute the plans,
insert the escalations guarded by their unique key, queue the notifications, store the next instants). A page
that fails for a reason other than the database being away is fired again ticket by ticket, so one ticket's bad
data holds up no other; such a ticket is tried alone in the following scans (and stays due until it fires). The
database away: the scan fails, and the next one (``retry_s`` later) finds the timers still due.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Table, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.runtime.scanner import PeriodicScanner
from uhd_telephony.sla.clock import Deadline, pending
from uhd_telephony.sla.clock import due as due_now
from uhd_telephony.sla.policy import Loaded
from uhd_telephony.sla.timers import claim, store_many
from uhd_telephony.store.db import Database, is_unavailable
from uhd_telephony.tickets.view import tickets, view_select

log = logging.getLogger(__name__)

S = TypeVar("S")  # a tenant's setup one scan loads once for all its pages: its SLA or its OLAs


class PlanLike(Protocol):
    """What the scan reads of a ticket's plan (``timers.Plan``, ``ola_timers.OlaPlan``)."""

    @property
    def ticket_id(self) -> int: ...

    @property
    def tenant(self) -> str: ...

    @property
    def deadlines(self) -> tuple[Deadline, ...]: ...

    @property
    def fired(self) -> frozenset[tuple[str, str]]: ...


def split_due(plan: PlanLike, now: datetime) -> tuple[list[Deadline], datetime | None]:
    """What of ``plan`` fires at ``now`` (``clock.due``), and the instant to store: the next deadline after it."""
    firing = due_now(plan.deadlines, now)
    done = set(plan.fired) | {(d.kind.value, d.target.value) for d in firing}
    ahead = [d.at for d in pending(plan.deadlines, done) if d.at > now]
    return firing, min(ahead, default=None)


class TimerScanner(PeriodicScanner, Generic[S]):
    """Fires due escalations of ``table``'s timers; one owned task, ``start``/``close``; ``clock`` injectable.
    A kind of escalation says how to plan its tickets, what one firing is, and how to record a batch of them."""

    table: Table
    name = "SLA"  # how logs and the shutdown line name it

    def __init__(self, db: Database, **options: Any) -> None:
        super().__init__(db, **options)
        self.fired = 0
        self.scans = 0
        self.failing: set[int] = set()  # tickets whose firing failed on its own: tried alone, outside the pages

    @abc.abstractmethod
    def loaded(self) -> Loaded[S]:
        """A fresh cache of the tenants' setups for one scan."""

    @abc.abstractmethod
    async def plans(
        self, conn: AsyncConnection, rows: Sequence[Mapping[Any, Any]], setups: Mapping[str, S]
    ) -> Sequence[PlanLike]:
        """The plans of the tickets ``rows`` (``tickets.view.view_select()``'s) under their tenants' setups."""

    @abc.abstractmethod
    def firing(self, row: Mapping[Any, Any], plan: Any, deadline: Deadline, setups: Mapping[str, S]) -> Any:
        """One deadline to fire, as ``fire_many`` takes it."""

    @abc.abstractmethod
    async def fire_many(self, conn: AsyncConnection, firings: Sequence[Any], at: datetime) -> list[int | None]:
        """Record the firings in the caller's transaction; each one's id, or None when it had fired already."""

    async def fire_due(self, ticket_ids: Sequence[int], now: datetime, loaded: Loaded[S] | None = None) -> int:
        """Claim the due timers among ``ticket_ids``, fire what is due, store each next instant: one transaction,
        a fixed number of statements however many tickets. The number of escalations fired."""
        async with self.db.engine.begin() as conn:
            claimed = await claim(conn, ticket_ids, now, table=self.table)
            if not claimed:
                return 0  # other instances have them, or ticket changes moved them since the due query
            stmt = view_select().where(tickets.c.id.in_(claimed)).order_by(tickets.c.id)
            rows = (await conn.execute(stmt)).mappings().all()  # a ticket gone: its timer stays cleared
            setups = await (loaded or self.loaded()).of(conn, {r["tenant"] for r in rows})
            firings: list[Any] = []
            timers: list[tuple[int, str, datetime | None]] = []
            for row, plan in zip(rows, await self.plans(conn, rows, setups), strict=True):
                if not plan.deadlines:
                    continue  # nothing ahead (no setup, no target left): the timer stays cleared
                firing, ahead = split_due(plan, now)
                firings += [self.firing(row, plan, deadline, setups) for deadline in firing]
                timers.append((plan.ticket_id, plan.tenant, ahead))
            fired_now = sum(1 for found in await self.fire_many(conn, firings, now) if found is not None)
            await store_many(conn, timers, now, table=self.table)
        self.fired += fired_now
        return fired_now

    def closing_summary(self) -> str:
        return f"{self.name} scanner shutdown: {self.fired} escalations fired in {self.scans} scans"

    def health(self) -> dict[str, Any]:
        return {"fired": self.fired, "last_error": self.last_error}

    def due_query(self, now: datetime, after: tuple[datetime, int] | None = None) -> Any:
        """The indexed scan: (ticket, due instant) of the timers due at ``now``, earliest first, the page after
        ``after`` (the last row of the page before) — the table's ``next_due_at`` index in its own order."""
        due, ticket = self.table.c.next_due_at, self.table.c.ticket_id
        stmt = select(ticket, due).where(due.is_not(None), due <= now)
        if after is not None:
            stmt = stmt.where(due >= after[0], or_(due > after[0], ticket > after[1]))
        return stmt.order_by(due, ticket).limit(self.batch_size)

    async def scan_once(self) -> int:
        """Fire every escalation due now; the number this instance fired."""
        now = self.clock()
        loaded = self.loaded()
        failing, self.failing = self.failing, set()
        count = 0
        after: tuple[datetime, int] | None = None
        while True:
            async with self.db.engine.connect() as conn:
                page = (await conn.execute(self.due_query(now, after))).all()
            if page:
                last_ticket, last_due = page[-1]
                after = (last_due, last_ticket)
                ids = [ticket_id for ticket_id, _ in page]
                count += await self._fire_page([t for t in ids if t not in failing], now, loaded)
                for ticket_id in (t for t in ids if t in failing):
                    count += await self._fire_page([ticket_id], now, loaded)
            if len(page) < self.batch_size:
                break
        self.scans += 1
        return count

    async def _fire_page(self, ticket_ids: Sequence[int], now: datetime, loaded: Loaded[S]) -> int:
        """``fire_due`` of a page; if it fails (not for the database being away), each ticket on its own."""
        if not ticket_ids:
            return 0
        try:
            return await self.fire_due(ticket_ids, now, loaded)
        except Exception as exc:  # one broken ticket must not stop escalation for every other one
            if is_unavailable(exc):
                raise  # the scan fails; the next one finds the timers still due
            if len(ticket_ids) == 1:
                self.failing.add(ticket_ids[0])
                log.exception("%s: ticket %d failed; it stays due and is tried at the next scan", self.name,
                              ticket_ids[0])  # fmt: skip
                return 0
            log.warning("%s: firing %d tickets together failed (%r); each on its own", self.name, len(ticket_ids),
                        exc)  # fmt: skip
        return sum([await self._fire_page([ticket_id], now, loaded) for ticket_id in ticket_ids])

    async def handle(self, ticket_id: int, now: datetime) -> int:
        """Claim the ticket's due timer, fire what is due, store the next instant: one transaction."""
        return await self.fire_due([ticket_id], now)
