"""The demo's simulated agents at their desks: what they do with a call's ticket once they hang up.

The simulator's agents answer and talk, but nobody types: without this their tickets would all stay new and
unclassified, and routing, work orders and SLA timers would have nothing to do. So after each call a simulated
agent answered, its ticket is classified (a category of the tenant's tree, impact and urgency around the
category's defaults, a subject) and then solved on the phone, routed to the category's group, or left open at
1st level — where the SLA clock runs on until a warning and a breach fire. Every change goes through the same
``TicketService``/``TicketWorkflow`` an agent's console uses, under that agent's account, and says in its text
that a simulated agent made it. A person's calls (``people``) are left to the person.

``SimulatedDesk`` is a bus subscriber (CallEnded) with one owned worker task, and a second one that prints each
SLA escalation as it fires; ``start``/``close``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import OrderedDict
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from sqlalchemy import select

from uhd_telephony.accounts.service import AccountService
from uhd_telephony.calls.domain import CallEnded, CallEvent
from uhd_telephony.calls.records import CallRecord, Outcome
from uhd_telephony.runtime.scanner import PeriodicScanner
from uhd_telephony.sla.models import escalations
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.categories import category_tree
from uhd_telephony.tickets.service import TicketService
from uhd_telephony.tickets.view import TicketView, from_row, tickets, view_select
from uhd_telephony.tickets.workflow import TicketWorkflow

log = logging.getLogger(__name__)

MAX_TRANSFERS = 1_000  # conversations in a second queue the desk remembers (bounded memory)
LABEL = "Demo: simulierter Agent"  # in every text a simulated agent writes
SUBJECTS = {
    "kis": ("KIS-Anmeldung schlägt fehl", "Patientenakte lädt nicht", "Aufnahme bricht mit Fehler ab"),
    "pacs": ("PACS-Viewer zeigt keine Bilder", "Befund lässt sich nicht freigeben"),
    "hardware": ("PC startet nicht", "Drucker druckt nicht", "DECT-Telefon ohne Netz"),
    "infrastructure": ("Kein Netzwerk im Stationszimmer", "VPN-Verbindung bricht ab", "WLAN langsam"),
    "standard-apps": ("Outlook startet nicht", "PDF lässt sich nicht drucken", "Teams ohne Ton"),
    "facility": ("Heizung im Arztzimmer kalt", "Aufzug steht"),
}


def wall_clock(at: datetime | None = None) -> str:
    """The time column of every line the demo prints: the wall clock (local time), whatever the PBX's clock says.
    Calls happen on the accelerated demo clock, tickets and escalations on the wall clock: one column for both
    would jump back and forth; a line is stamped with the moment it happened in the room instead."""
    return (at.astimezone() if at is not None else datetime.now().astimezone()).strftime("%H:%M:%S")


class SimulatedDesk:
    """Classifies, solves, routes or leaves open the tickets of the simulated agents' calls."""

    def __init__(
        self,
        db: Database,
        tickets_service: TicketService,
        accounts: AccountService,
        *,
        people: Collection[str] = (),
        seed: int = 0,
        resolve_share: float = 0.6,
        route_share: float = 0.25,
        out: Callable[[str], None] | None = None,
        watch_interval_s: float = 2.0,
        ticket_wait_s: float = 15.0,
    ) -> None:
        self.db = db
        self.tickets = tickets_service
        self.workflow = TicketWorkflow(tickets_service)
        self.accounts = accounts
        self.people = frozenset(people)  # interfaces a person answers: their tickets are theirs
        self.rng = random.Random(seed)
        self.resolve_share = resolve_share
        self.route_share = route_share
        self.out = out
        self.watch_interval_s = watch_interval_s
        self.ticket_wait_s = ticket_wait_s
        self.worked = 0
        self.escalations_seen = 0
        self._queue: asyncio.Queue[CallRecord] = asyncio.Queue(maxsize=1000)
        self._transferred: OrderedDict[str, CallRecord] = OrderedDict()  # linkedid -> its transferring stay
        self._leaves: dict[str, list[dict[str, Any]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._watch = EscalationWatch(self)
        self._last_escalation = 0

    # -- the bus side ---------------------------------------------------------------------------------------

    def __call__(self, event: CallEvent) -> None:
        if not isinstance(event, CallEnded):
            return
        call = event.call
        key = call.linkedid or call.uniqueid
        if call.outcome == Outcome.TRANSFERRED and call.answered_at is not None:
            # the conversation goes on in the next queue: its ticket is worked when it ends there
            self._transferred[key] = call
            self._transferred.move_to_end(key)
            while len(self._transferred) > MAX_TRANSFERS:
                self._transferred.popitem(last=False)
            return
        earlier = self._transferred.pop(key, None)
        if call.outcome == Outcome.ANSWERED and call.answered_at is not None:
            worker = call  # whoever answered last works the ticket
        elif earlier is not None:
            worker = earlier  # nobody answered in the next queue: the agent who transferred works it
        else:
            return
        if worker.agent_interface in self.people:
            return
        try:
            self._queue.put_nowait(worker)
        except asyncio.QueueFull:
            log.debug("demo desk busy: call %s left unworked", worker.call_id)

    # -- lifetime -------------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._tasks:
            return
        async with self.db.engine.connect() as conn:
            last = (await conn.execute(select(escalations.c.id).order_by(escalations.c.id.desc()).limit(1))).scalar()
        self._last_escalation = int(last or 0)  # announce what fires from now on, not a restarted demo's past
        self._tasks = [asyncio.create_task(self._work_loop(), name="demo-desk")]
        await self._watch.start()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self._watch.close()

    async def _work_loop(self) -> None:
        while True:
            call = await self._queue.get()
            try:
                await self.work(call)
            except Exception:  # one ticket's trouble must not end the desk
                log.exception("demo desk: ticket of call %s not worked", call.call_id)

    # -- the work -------------------------------------------------------------------------------------------

    async def work(self, call: CallRecord) -> str | None:
        """Classify the call's ticket, then solve, route or leave it; what was done, None when nothing."""
        ticket = await self._ticket_of(call)
        if ticket is None or ticket.status != "new":
            return None  # no ticket yet (no account answered), or someone worked it already
        agent = await self.accounts.agent_for_call(call.agent_interface, call.agent)
        actor = f"agent:{agent.id}" if agent is not None else "system"
        who = agent.display_name if agent is not None else (call.agent or "?")
        leaf = await self._category(ticket.tenant)
        if leaf is None:
            return None
        top = str(leaf["path"]).split("/", 1)[0]
        subject = self.rng.choice(SUBJECTS.get(top, (f"Störung: {leaf['name']}",)))
        urgency = leaf["default_urgency"] or 3
        urgency = min(5, max(1, urgency + self.rng.choice((-1, 0, 0, 1))))
        view = await self.tickets.classify(
            ticket.tenant, ticket.id, category_id=leaf["id"], impact=None, urgency=urgency, subject=subject,
            description=f"Anruf von {ticket.requester_name or call.caller_number or 'unbekannt'} ({LABEL} {who})",
            actor=actor,
        )  # fmt: skip
        roll = self.rng.random()
        if roll < self.resolve_share:
            await self.workflow.transition(
                view.tenant, view.id, "resolved", note=f"Am Telefon gelöst ({LABEL})", actor=actor
            )
            done = "solved on the phone"
        elif roll < self.resolve_share + self.route_share:
            group = view.category_group if view.category_group not in (None, "1st_level") else "2nd_level"
            _, result = await self.workflow.route(
                view.tenant, view.id, group=group, reason=f"An die zuständige Gruppe ({LABEL})", actor=actor
            )
            done = f"routed to {result.new_group}"
        else:
            done = "left open at 1st level (its SLA clock runs)"
        self.worked += 1
        self._say(
            f"ticket       {view.tenant:<13} {view.number} {view.category_path} priority {view.priority}: {done}"
            f" (simulated agent {who})"
        )
        return done

    async def _ticket_of(self, call: CallRecord) -> TicketView | None:
        """The call's ticket: the screen-pop opens it at the answer, concurrently; wait for it a little."""
        linkedid = call.linkedid or call.uniqueid or call.call_id
        stmt = view_select().where(tickets.c.tenant == call.tenant, tickets.c.call_linkedid == linkedid)
        loop = asyncio.get_running_loop()
        until = loop.time() + self.ticket_wait_s
        while True:
            async with self.db.engine.connect() as conn:
                row = (await conn.execute(stmt)).mappings().first()
            if row is not None:
                return from_row(row)  # the ticket's view in the same round trip that found it
            if loop.time() >= until:
                return None
            await asyncio.sleep(0.25)

    async def _category(self, tenant: str) -> dict[str, Any] | None:
        leaves = self._leaves.get(tenant)
        if leaves is None:
            leaves = self._leaves[tenant] = []
            stack = list(await category_tree(self.db, tenant))
            while stack:
                node = stack.pop()
                if node["children"]:
                    stack.extend(node["children"])
                elif node["default_impact"] is not None and node["default_urgency"] is not None:
                    leaves.append(node)
            leaves.sort(key=lambda n: str(n["path"]))
        return self.rng.choice(leaves) if leaves else None

    async def announce_escalations(self) -> int:
        """Print the SLA escalations fired since the last look; how many."""
        stmt = (
            select(escalations, tickets.c.number)
            .join(tickets, tickets.c.id == escalations.c.ticket_id)
            .where(escalations.c.id > self._last_escalation)
            .order_by(escalations.c.id)
        )
        async with self.db.engine.connect() as conn:
            rows = list((await conn.execute(stmt)).mappings())
        for row in rows:
            self._last_escalation = max(self._last_escalation, int(row["id"]))
            told = ", ".join(n["name"] for n in row["notified"]) or "nobody"
            self._say(
                f"escalation   {row['tenant']:<13} {row['number']} {row['target']} {row['kind']}"
                f" (level {row['level']}, priority {row['priority']}): mail to {told}",
                at=row["fired_at"],
            )
        self.escalations_seen += len(rows)
        return len(rows)

    def _say(self, line: str, at: datetime | None = None) -> None:
        if self.out is not None:
            self.out(f"{wall_clock(at)}  {line}")


class EscalationWatch(PeriodicScanner):
    """Every ``watch_interval_s``: the desk tells the demo's watcher which SLA escalations fired meanwhile; a failed
    read (the database busy) is caught up by the next round."""

    label = "demo: reading escalations"
    scan_at_start = False

    def __init__(self, desk: SimulatedDesk) -> None:
        super().__init__(desk.db, interval_s=desk.watch_interval_s)
        self.desk = desk

    async def scan_once(self) -> int:
        return await self.desk.announce_escalations()
