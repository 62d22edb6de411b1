"""When an agent answers: open the call's ticket (exactly once), identify the caller, pop it on that agent's screen.

A bus subscriber. Work for one call runs in order (answered before ended); different calls run concurrently, at
most ``concurrency`` at a time, so one slow database round trip does not hold up every other agent's pop. Every
task is owned here and cancelled or awaited on close.

With the database away, the ticket and the pop of an answered call are retried with backoff while the call is up
(the pop follows once the ticket is there); what is still undone when the call ends, or any other failure, is
left to the catch-up (``screenpop.catchup``), which ``on_failure`` wakes.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from uhd_telephony.calls.domain import CallAnswered, CallEnded, CallEvent, CallOffered
from uhd_telephony.calls.records import CallRecord, iso
from uhd_telephony.incidents.board import open_incidents
from uhd_telephony.screenpop.ports import Accounts, Agent, Callbacks, CallTickets, Directory, PopFanout
from uhd_telephony.sla.view import open_ticket
from uhd_telephony.sla.view import states as sla_states
from uhd_telephony.store.db import Database, is_unavailable
from uhd_telephony.tickets.categories import category_tree
from uhd_telephony.tickets.requester import DirectoryMatch, Requester, requester_of
from uhd_telephony.tickets.service import AfterInsert
from uhd_telephony.tickets.view import TicketView

log = logging.getLogger(__name__)

CATEGORY_CACHE_S = 30.0  # the tree changes rarely; a pop must not wait for it
# who answered on which interface, remembered: read twice per call otherwise (answered and ended). A change made
# in this process (a new account, a phone moved, a deactivation) counts at once; one made by another process
# (a second web process) within this time
AGENT_CACHE_S = 120.0
RECENT_TICKETS = 5  # the caller's earlier tickets shown in the pop
RETRY_MIN_S = 0.2  # the first retry of an answered call's ticket and pop while the database is away
RETRY_MAX_S = 5.0

T = TypeVar("T")


@dataclass(slots=True)
class ComposerStats:
    pops: int = 0
    tickets_created: int = 0
    without_agent_account: int = 0
    failed: int = 0
    retries: int = 0  # attempts of a live call's ticket or pop that failed for the database and were repeated
    duplicate_pops: int = 0  # pops another instance had published already (RedisFanout)


@dataclass(frozen=True, slots=True)
class OpenedTicket:
    """An answered call's ticket, and who it is for and with."""

    ticket: TicketView
    created: bool
    agent: Agent | None  # the account of the agent who answered
    caller: DirectoryMatch  # the directory's LookupResult
    requester: Requester  # who the ticket is for, as the directory knows the caller now


class ScreenPop:
    """Tickets, callbacks and pops from call events."""

    def __init__(
        self,
        db: Database,
        *,
        accounts: Accounts,
        tickets: CallTickets,
        callbacks: Callbacks,
        directory: Directory,
        fanout: PopFanout,
        concurrency: int = 32,
        clock: Callable[[], float] = time.time,
        on_failure: Callable[[], None] | None = None,
        retry_min_s: float = RETRY_MIN_S,
        retry_max_s: float = RETRY_MAX_S,
    ) -> None:
        """``on_failure``: called after any work failed for good (the catch-up's ``wake``)."""
        self.db = db
        self.accounts = accounts
        self.tickets = tickets
        self.callbacks = callbacks
        self.directory = directory
        self.fanout = fanout
        self.clock = clock
        self.stats = ComposerStats()
        self._slots = asyncio.Semaphore(concurrency)
        self._tails: dict[str, asyncio.Task[None]] = {}  # per call: the last task queued for it
        self._tasks: set[asyncio.Task[None]] = set()
        self._categories: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        self._agents: dict[tuple[str | None, str | None], tuple[float, Agent]] = {}
        self._agents_version = accounts.version
        self._closed = False
        self.on_failure = on_failure
        self.retry_min_s = retry_min_s
        self.retry_max_s = max(retry_min_s, retry_max_s)
        self._ended: set[str] = set()  # call_ids whose CallEnded came: their answer's retries stop

    # ------------------------------------------------------------------ bus side
    def __call__(self, event: CallEvent) -> None:
        """The bus subscriber (synchronous: it only queues the work)."""
        if self._closed:
            return
        if isinstance(event, CallAnswered):
            self._queue(event.call.linkedid, self.answered(event))
        elif isinstance(event, CallEnded):
            self._ended.add(event.call.call_id)
            self._queue(event.call.linkedid, self.ended(event))
        elif isinstance(event, CallOffered):
            self._queue(event.call.linkedid, self.offered(event))

    def _queue(self, key: str, work: Awaitable[None]) -> None:
        previous = self._tails.get(key)
        task = asyncio.create_task(self._run(previous, work), name=f"screenpop:{key}")
        self._tails[key] = task
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._done(key, t))

    def _done(self, key: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._tails.get(key) is task:
            del self._tails[key]

    async def _run(self, previous: asyncio.Task[None] | None, work: Awaitable[None]) -> None:
        if previous is not None:
            await asyncio.wait([previous])  # its outcome is its own; ours only comes after it
        try:
            await work  # takes one of the slots for each database round of its own
        except Exception as exc:  # one call's failure must not stop the pops of the others
            self.stats.failed += 1
            if is_unavailable(exc):
                log.warning("screen-pop work failed, the database is unavailable (%s: %s); the catch-up will do it",
                            type(exc).__name__, exc)  # fmt: skip
            else:
                log.exception("screen-pop work failed")
            if self.on_failure is not None:
                self.on_failure()  # the catch-up derives the ticket or callback entry from the stored call

    async def drain(self) -> None:
        """Wait for the work queued so far (tests, shutdown)."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    async def close(self, timeout_s: float = 5.0) -> None:
        self._closed = True
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=timeout_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)

    # ------------------------------------------------------------------ shared with the catch-up
    async def open_ticket(
        self, call: CallRecord, *, then: AfterInsert | None = None, caller: DirectoryMatch | None = None
    ) -> OpenedTicket:
        """The call's ticket (opened once per conversation) for the agent's account and the directory's caller
        (``caller``: looked up already); ``then(conn, ticket_id, now)`` runs in a new ticket's transaction."""
        agent = await self.agent_for(call)
        if caller is None:
            caller = self.directory.lookup(call.tenant, call.caller_number)
        requester = requester_of(call, caller)
        ticket, created = await self.tickets.open_for_call(
            call,
            requester=caller,
            agent_id=agent.id if agent is not None else None,
            agent_name=agent.display_name if agent is not None else call.agent,
            then=then,
        )
        self.stats.tickets_created += created
        return OpenedTicket(ticket, created, agent, caller, requester)

    async def agent_for(self, call: CallRecord) -> Agent | None:
        """The account of the agent who answered the call; an account found is remembered for ``AGENT_CACHE_S``
        or until this process changes an account; a missing one is asked for again at the next call."""
        key = (call.agent_interface, call.agent)
        now = time.monotonic()
        version = self.accounts.version
        if version != self._agents_version:
            self._agents.clear()
            self._agents_version = version
        cached = self._agents.get(key)
        if cached is not None and now - cached[0] < AGENT_CACHE_S:
            return cached[1]
        agent = await self.accounts.agent_for_call(call.agent_interface, call.agent)
        if agent is None:
            self._agents.pop(key, None)
        else:
            if len(self._agents) > 10_000:  # interfaces are few; a flood of made-up ones must not grow this
                self._agents.clear()
            self._agents[key] = (now, agent)
        return agent

    async def callback_for(self, call: CallRecord) -> object | None:
        """The callback entry of an ended unanswered call when the callback rules want one (CallbackView | None)."""
        requester = requester_of(call, self.directory.lookup(call.tenant, call.caller_number))
        return await self.callbacks.on_call_ended(call, user_id=requester.user_id)

    async def _while_up(self, call: CallRecord, work: Callable[[], Awaitable[T]]) -> T:
        """``work()`` in a slot; a database outage retries it with backoff until it succeeds, the call ends or
        the composer closes (then the error is raised: the catch-up takes over)."""
        delay = self.retry_min_s
        while True:
            try:
                async with self._slots:
                    return await work()
            except Exception as exc:
                if self._closed or call.call_id in self._ended or not is_unavailable(exc):
                    raise
                self.stats.retries += 1
                wait = random.uniform(delay / 2, delay)
                log.warning("call %s: ticket and pop wait for the database (%s); retry in %.1f s", call.call_id,
                            type(exc).__name__, wait)  # fmt: skip
            await asyncio.sleep(wait)  # outside the slot: other calls' work goes on meanwhile
            delay = min(delay * 2, self.retry_max_s)

    # ------------------------------------------------------------------ the work
    async def offered(self, event: CallOffered) -> None:
        # the caller calls again: their open callback entries are done
        async with self._slots:
            await self.callbacks.on_call_offered(event.call)

    async def answered(self, event: CallAnswered) -> None:
        call = event.call
        # the caller's earlier tickets are read while the new one is written (the pop needs both)
        caller = self.directory.lookup(call.tenant, call.caller_number)
        earlier = asyncio.create_task(self._recent(call, requester_of(call, caller).user_id))
        try:
            opened = await self._while_up(call, lambda: self.open_ticket(call, caller=caller))
        except BaseException:
            earlier.cancel()
            raise
        ticket, agent = opened.ticket, opened.agent
        if agent is None:
            earlier.cancel()
            self.stats.without_agent_account += 1
            log.info("call %s answered by %s, who has no account: ticket %s, no pop", call.call_id, call.agent,
                     ticket.number)  # fmt: skip
            return
        pop = await self._while_up(call, lambda: self._pop(call, opened, earlier))
        if await self.fanout.publish(pop) is False:
            self.stats.duplicate_pops += 1  # another instance following the same PBX popped it
            return
        self.stats.pops += 1

    async def _recent(self, call: CallRecord, user_id: int | None) -> list[dict[str, Any]]:
        """The caller's earlier tickets as the pop shows them, newest first: the open ones with their SLA state
        (``sla.view``: due times, time left, paused, ok/warning/breached). One more than shown: the new ticket may
        be among them when its insert commits first (``answered`` reads them while it writes)."""
        async with self._slots:
            found = await self.tickets.recent_for_requester(
                call.tenant, user_id=user_id, number=call.caller_number, limit=RECENT_TICKETS + 1
            )
            shown = [t.to_dict() for t in found]
            unfinished = [t for t in found if open_ticket(t)]
            if unfinished:
                async with self.db.engine.connect() as conn:
                    states = await sla_states(conn, call.tenant, unfinished, datetime.fromtimestamp(self.clock(), UTC))
                for ticket in shown:
                    ticket["sla"] = states.get(ticket["id"])
        return shown

    async def _pop(
        self, call: CallRecord, opened: OpenedTicket, earlier: asyncio.Task[list[dict[str, Any]]] | None = None
    ) -> dict[str, Any]:
        ticket, agent, caller, requester = opened.ticket, opened.agent, opened.caller, opened.requester
        assert agent is not None  # a call answered by someone without an account pops nowhere (``answered``)
        found = None
        if earlier is not None and not earlier.cancelled():
            try:
                found = await earlier
            except Exception:  # read again below, inside the caller's retry
                found = None
        if found is None:
            found = await self._recent(call, requester.user_id)
        recent = [t for t in found if t["id"] != ticket.id][:RECENT_TICKETS]
        return {
            "type": "pop",
            "tenant": call.tenant,
            "agent_id": agent.id,
            "at": iso(self.clock()),
            "call": call_summary(call),
            "caller": caller.to_dict(),
            "ticket": ticket.to_dict(),
            "ticket_created": opened.created,
            "recent_tickets": recent,
            "categories": await self._category_tree(call.tenant),
            # the tenant's open major incidents (kept in memory until one changes: no query per pop)
            "incidents": await open_incidents(self.db, call.tenant),
        }

    async def ended(self, event: CallEnded) -> None:
        call = event.call
        try:
            async with self._slots:
                await self._ended_work(call)
        finally:
            self._ended.discard(call.call_id)

    async def _ended_work(self, call: CallRecord) -> None:
        if call.answered_at is None:
            # an abandoned caller the directory knows goes on the callback list
            await self.callback_for(call)
            return
        await self.callbacks.on_call_ended(call)
        agent = await self.agent_for(call)
        if agent is None:
            return
        await self.fanout.end(agent.id, call.linkedid)
        await self.fanout.publish(
            {"type": "call_ended", "tenant": call.tenant, "agent_id": agent.id, "call": call_summary(call)}
        )

    async def _category_tree(self, tenant: str) -> list[dict[str, Any]]:
        cached = self._categories.get(tenant)
        now = time.monotonic()
        if cached is not None and now - cached[0] < CATEGORY_CACHE_S:
            return cached[1]
        tree = await category_tree(self.db, tenant)
        self._categories[tenant] = (now, tree)
        return tree


def call_summary(call: CallRecord) -> dict[str, Any]:
    return {
        "call_id": call.call_id,
        "linkedid": call.linkedid,
        "queue": call.queue,
        "caller_number": call.caller_number,
        "caller_name": call.caller_name,
        "entered_at": iso(call.entered_at),
        "answered_at": iso(call.answered_at),
        "ended_at": iso(call.ended_at),
        "wait_s": call.wait_s,
        "talk_s": call.talk_s,
        "outcome": None if call.outcome is None else str(call.outcome),
        "agent": call.agent,
    }
