"""MetricsService: everything ``/metrics`` shows, wired to one CallService, and the render of a scrape.

Wiring (``attach``): ``CallCounters`` subscribes to the bus; ``MemberState`` (queue members) and ``EventClock``
(AMI time) observe the pipeline's typed events and resync snapshots; calls restored from the store are marked
as counted. Tickets come from the database, read at start (``prime``) and then in the background every
``ticket_ttl_s`` (``TicketStatsCache``, refreshed by the capability's ``MetricsRefresh`` worker through
``refresh``): there are no ticket events to count, routing and escalation only append history rows, and a
database total survives restarts and counts what any process wrote. A scrape never waits for the database: it
shows the totals read last (on 300,000 tickets that query takes half a second on PostgreSQL).

The tenants' SLA calendars, which decide what is outside business hours for the counters, are read the same way:
at start and in the background every ``calendar_ttl_s`` (a minute, ``CalendarCache``): an ``uhd-telephony
import-sla`` here or in another process counts from then on. A failed read keeps the calendars known before. A
stay keeps the decision taken at its first event.

The tenants' KPI contracts (``tenants.contract``: how each tenant's figures are classified, ``live``'s docstring)
are read the same way, every ``calendar_ttl_s`` (``ContractCache``): a contract set counts within a minute, and
the 1st of a month switches at midnight Europe/Berlin by the stays' own entry days, without a read.

The names of tenants and top-level categories (``exposition``'s info series, which the dashboards join for their
legends) are read the same way, every ``names_ttl_s`` (a minute, ``NamesCache``).

A scrape is sampled on the event loop (only the counters that changed since the previous scrape are copied)
and rendered by ``exposition.Renderer``: on the loop when it formats at most ``inline_lines`` lines (a couple of
milliseconds, the common case), otherwise in the default executor, where the interpreter's switch interval
hands the loop back every few milliseconds. One scrape renders at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from uhd_telephony.calls.domain import CallEvent
from uhd_telephony.metrics import queries, reachback
from uhd_telephony.metrics.exposition import DisplayNames, Renderer
from uhd_telephony.metrics.live import (
    AmiSample,
    CallCounters,
    EventClock,
    Sample,
    TicketTotals,
    waiting_callers,
)
from uhd_telephony.metrics.members import MemberState
from uhd_telephony.metrics.reachback import ReachFigures
from uhd_telephony.sla import policy
from uhd_telephony.sla.calendar import Calendar
from uhd_telephony.tenants import contract

if TYPE_CHECKING:
    from uhd_telephony.ami.client import AmiClient
    from uhd_telephony.calls.service import CallService
    from uhd_telephony.calls.tracker import CallTracker
    from uhd_telephony.store.db import Database

log = logging.getLogger(__name__)

TICKET_TTL_S = 30.0
CALENDAR_TTL_S = 60.0
NAMES_TTL_S = 60.0
# a background read (never a scrape's) may take its time, but must end before the next round: at 300,000 tickets on
# PostgreSQL the totals take 0.5-1.7 s; 5 s would time out, unnoticed, on a database a few times that size
READ_TIMEOUT_S = 25.0
# a render formatting at most this many lines runs on the event loop: ~1-2 ms on a slow core
INLINE_LINES = 4_000
_ACTIVE_HEAD = (
    "# HELP uhd_tracker_active 1 while this process tracks the PBX (holds the tracker lease), 0 while it stands by"
    " or only serves the web\n# TYPE uhd_tracker_active gauge\n"
)
TRACKER_ACTIVE = {flag: f"{_ACTIVE_HEAD}uhd_tracker_active {int(flag)}\n".encode() for flag in (False, True)}

SOURCES_HEAD = (
    "# HELP uhd_metrics_source_age_seconds Seconds since the background refresh last read this source from the"
    " database (ticket totals, SLA calendars, names)\n# TYPE uhd_metrics_source_age_seconds gauge\n"
)
ERRORS_HEAD = (
    "# HELP uhd_metrics_source_errors_total Reads of this source by the background refresh that failed\n"
    "# TYPE uhd_metrics_source_errors_total counter\n"
)

T = TypeVar("T")


class _Cached(Generic[T]):
    """A value read from the database at most every ``ttl_s``, one read at a time; a failed read keeps the last."""

    what = "value"
    default_ttl_s = 60.0

    def __init__(
        self,
        db: Database,
        ttl_s: float | None = None,
        timeout_s: float = READ_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.ttl_s = self.default_ttl_s if ttl_s is None else ttl_s
        self.timeout_s = timeout_s
        self.clock = clock
        self.value: T | None = None
        self.errors = 0
        self.reads = 0
        self.read_ok_at: float | None = None  # ``clock()`` of the last read that succeeded
        self._read_at: float | None = None
        self._lock = asyncio.Lock()

    def _read(self) -> Awaitable[T]:
        raise NotImplementedError

    async def get(self) -> T | None:
        if self._fresh():
            return self.value
        async with self._lock:  # one read at a time; scrapes that queued behind it take its result
            if self._fresh():
                return self.value
            self._read_at = self.clock()  # also after a failure: the next try waits a TTL, not the next scrape
            try:
                async with asyncio.timeout(self.timeout_s):
                    self.value = await self._read()
                self.reads += 1
                self.read_ok_at = self.clock()
            except Exception as exc:  # the database may be briefly away: the last value serves meanwhile
                self.errors += 1
                log.warning("%s for /metrics not read: %r", self.what, exc)
        return self.value

    def set(self, value: T) -> None:
        """Take ``value`` as if just read (the render benchmark; a test that wants no database)."""
        self.value = value
        self._read_at = self.read_ok_at = self.clock()

    def _fresh(self) -> bool:
        return self._read_at is not None and self.clock() - self._read_at < self.ttl_s


class TicketStatsCache(_Cached[TicketTotals]):
    """The all-time ticket totals, read at most every ``ttl_s``; a failed read keeps serving the last ones."""

    what = "ticket totals"
    default_ttl_s = TICKET_TTL_S

    @property
    def totals(self) -> TicketTotals | None:
        return self.value

    def _read(self) -> Awaitable[TicketTotals]:
        return queries.ticket_totals(self.db)


class CalendarCache(_Cached[dict[str, Calendar]]):
    """The tenants' SLA calendars (``sla.policy.load_calendars``), read at most every ``ttl_s``."""

    what = "SLA calendars"
    default_ttl_s = CALENDAR_TTL_S

    def _read(self) -> Awaitable[dict[str, Calendar]]:
        return policy.load_calendars(self.db)


class ContractCache(_Cached[dict[str, contract.Schedule]]):
    """The tenants' KPI contracts (``tenants.contract.schedules``: every row, so the 1st of a month switches at
    Berlin midnight without a read), read at most every ``ttl_s``: a contract set anywhere counts within it."""

    what = "KPI contracts"
    default_ttl_s = CALENDAR_TTL_S

    def _read(self) -> Awaitable[dict[str, contract.Schedule]]:
        return contract.schedules(self.db)


class NamesCache(_Cached[DisplayNames]):
    """The tenants' display names and top-level categories' titles (``queries.display_names``), read at most every
    ``ttl_s``: a tenant added (``uhd-telephony tenant add``, the admin API), here or in another process, or a
    category retitled shows by its name within a minute."""

    what = "tenant and category names"
    default_ttl_s = NAMES_TTL_S

    def _read(self) -> Awaitable[DisplayNames]:
        return queries.display_names(self.db)


class ReachTodayCache(_Cached[dict[str, ReachFigures]]):
    """Every tenant's lost stays of the day and callers reached back (``metrics.reachback``), read at most every
    ``ttl_s`` by the background refresh."""

    what = "callers reached back"
    default_ttl_s = TICKET_TTL_S

    def _read(self) -> Awaitable[dict[str, ReachFigures]]:
        return reachback.today_by_tenant(self.db)


class MetricsService:
    """The live metrics of one process: counters, member state, AMI state, ticket totals; ``render()`` for /metrics."""

    def __init__(
        self,
        *,
        db: Database | None = None,
        tracker: CallTracker | None = None,
        ami: Callable[[], AmiClient | None] | None = None,
        ticket_ttl_s: float = TICKET_TTL_S,
        calendar_ttl_s: float = CALENDAR_TTL_S,
        names_ttl_s: float = NAMES_TTL_S,
        max_pairs: int = 2_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.counters = CallCounters(max_pairs=max_pairs)
        self.members = MemberState()
        self.events = EventClock()
        self.tracker = tracker
        self.ami: Callable[[], AmiClient | None] = ami or (lambda: None)
        self.db = db
        self.tickets = TicketStatsCache(db, ticket_ttl_s) if db is not None else None
        self.calendars = CalendarCache(db, calendar_ttl_s) if db is not None else None
        self.contracts = ContractCache(db, calendar_ttl_s) if db is not None else None
        self.names = NamesCache(db, names_ttl_s) if db is not None else None
        self.reached = ReachTodayCache(db, ticket_ttl_s) if db is not None else None
        self.renderer = Renderer()
        self.inline_lines = INLINE_LINES
        self.clock = clock
        self._render_lock = asyncio.Lock()
        # whether this process tracks the PBX now (app/server.py: holds the tracker lease); None: always. A process
        # that does not (a standby, a web process) shows only that: Prometheus may scrape every process and the
        # sums count each call and ticket once
        self.active: Callable[[], bool] | None = None

    def attach(self, calls: CallService) -> None:
        """Listen to a CallService that has been opened (store and bus up) and not yet connected to Asterisk."""
        self.tracker = calls.tracker
        self.ami = lambda: calls.client  # made only in connect()
        calls.bus.subscribe(self.counters, CallEvent, name="metrics")
        calls.pipeline.observers.extend([self.members, self.events])
        self.counters.restore(calls.tracker.calls.values())
        calls.on_restore.append(self.counters.restore)  # a standby taking over restores later

    async def prime(self) -> None:
        """Read the SLA calendars and the ticket totals, and create the series of the (tenant, queue) pairs with
        recent calls at 0 (see ``live``'s docstring)."""
        if self.db is None:
            return
        await self.refresh()
        try:
            self.counters.prime(await queries.recent_pairs(self.db, datetime.now(UTC)))
        except Exception as exc:  # only a nicety: the series appear with their first call anyway
            log.warning("recent tenant/queue pairs not read for /metrics: %r", exc)

    async def refresh(self) -> None:
        """What the scrapes show from the database, read again where older than its TTL (calendars, ticket
        totals, names); a failed read keeps the last. The background worker's round, and the start's."""
        await self.refresh_calendars()
        await self.refresh_contracts()
        if self.tickets is not None:
            await self.tickets.get()
        if self.names is not None:
            await self.names.get()
        if self.reached is not None:
            await self.reached.get()

    async def refresh_calendars(self) -> None:
        """The counters take the calendars read last (at most every ``calendar_ttl_s``; on failure, the last ones)."""
        if self.calendars is None:
            return
        calendars = await self.calendars.get()
        if calendars is not None and calendars != self.counters.calendars:
            self.counters.calendars = calendars
            log.info("business hours for the call counters from the SLA calendars of %d tenant(s)", len(calendars))

    async def refresh_contracts(self) -> None:
        """The counters take the KPI contracts read last (at most every ``calendar_ttl_s``; on failure, the last)."""
        if self.contracts is None:
            return
        schedules = await self.contracts.get()
        if schedules is not None and schedules != self.counters.schedules:
            self.counters.schedules = schedules
            log.info("KPI rules for the call counters from the contracts of %d tenant(s)", len(schedules))

    def sample(self, tickets: TicketTotals | None = None) -> Sample:
        """Everything a scrape shows, taken now on the event loop (the counters: those changed since the last
        render, against ``renderer.versions``)."""
        wall = self.clock()
        pairs, changed = self.counters.sample(self.renderer.versions)
        active = self.tracker.calls.values() if self.tracker is not None else ()
        waiting = waiting_callers(active, self.events.now(wall), self.counters.pair_of, known=pairs)
        return Sample(
            pairs=pairs,
            changed=changed,
            waiting=waiting,
            agents=self.members.by_queue(),
            ami=self._ami(wall),
            tickets=tickets,
            schedules=self.counters.schedules,
            day=contract.berlin_day(wall),
        )

    def tenant_now(self, tenant: str, queues: Iterable[str] = ()) -> dict[str, Any] | None:
        """The tenant's queues at this moment, from this process's live state (None without a call tracker):
        callers waiting and the longest current wait (``live.waiting_callers``), and the agents of its queues —
        those its calls use, those it has counters for, and ``queues`` (its hotlines' queues) — logged in, ready,
        paused and on a call (``MemberState.agents``; an interface in one of its answered calls is on a call)."""
        if self.tracker is None:
            return None
        active = [c for c in self.tracker.calls.values() if c.tenant == tenant and not c.finished]
        waiting = waiting_callers(active, self.events.now(self.clock()), lambda t, q: (t, q))
        longest = max((w for _, w in waiting.values()), default=0.0)
        mine = {c.queue for c in active} | {q for t, q in self.counters.queues if t == tenant} | set(queues)
        busy = {c.agent_interface for c in active if c.answered_at is not None and c.agent_interface}
        return {
            "waiting": sum(n for n, _ in waiting.values()),
            "longest_wait_s": round(max(longest, 0.0), 1),
            "agents": self.members.agents(mine, busy).to_dict(),
        }

    def _ami(self, wall: float) -> AmiSample:
        client = self.ami()
        if client is None:
            return AmiSample(False, 0, None, 0, 0, 0)
        status = client.status
        last = self.events.last_ts
        return AmiSample(
            connected=status.authenticated and not status.closed,
            reconnects=status.reconnects,
            event_lag_s=None if last is None else wall - last,
            frames_skipped=status.decoder.skipped,
            frames_malformed=status.decoder.malformed,
            frames_oversized=status.decoder.oversized,
        )

    def sources_text(self) -> bytes:
        """How old what the background refresh read is, per source, and how often a read failed: totals that
        stopped moving because their read fails (a database grown slow, gone) are told apart from a quiet day."""
        caches = [(name, c) for name, c in (("tickets", self.tickets), ("calendars", self.calendars),
                                            ("contracts", self.contracts), ("names", self.names),
                                            ("reached", self.reached))
                  if c is not None]  # fmt: skip
        if not caches:
            return b""
        lines = [SOURCES_HEAD]
        for name, cache in caches:
            if cache.read_ok_at is not None:
                age = max(0.0, cache.clock() - cache.read_ok_at)
                lines.append(f'uhd_metrics_source_age_seconds{{source="{name}"}} {age:.3f}\n')
        lines.append(ERRORS_HEAD)
        lines += [f'uhd_metrics_source_errors_total{{source="{name}"}} {cache.errors}\n' for name, cache in caches]
        return "".join(lines).encode()

    async def render(self) -> bytes:
        """The ``/metrics`` text: sampled on the loop, rendered there when cheap, else in the default executor.
        No database read: the ticket totals, calendars and names are those the background refresh read last."""
        if self.active is not None and not self.active():
            return TRACKER_ACTIVE[False]
        tickets = self.tickets.value if self.tickets is not None else None
        names = self.names.value if self.names is not None else None
        async with self._render_lock:  # a render starts from the versions the previous one left
            sample = self.sample(tickets)
            tail = TRACKER_ACTIVE[True] + self.sources_text()
            if self.reached is not None and self.reached.value is not None:
                tail += reachback.gauges_text(self.reached.value).encode()
            if self.renderer.cost(sample, names) <= self.inline_lines:
                return self.renderer.render(sample, names) + tail
            future = asyncio.get_running_loop().run_in_executor(None, self.renderer.render, sample, names)
            try:
                return await asyncio.shield(future) + tail
            finally:
                if not future.done():  # the scrape was cancelled: the next render starts once this one ends
                    await asyncio.wait([future])
