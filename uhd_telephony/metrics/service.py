"""MetricsService: everything ``/metrics`` shows, wired to one CallService, and the render of a scrape.

Wiring (``attach``): ``CallCounters`` subscribes to the bus; ``MemberState`` (queue members) and ``EventClock``
(AMI time) observe the pipeline's typed events and resync snapshots; calls restored from the store are marked
as counted. Tickets come from the database at scrape time, at most every ``ticket_ttl_s`` (``TicketStatsCache``):
there are no ticket events to count, routing and escalation only append history rows, and a
database total survives restarts and counts what any process wrote.

The tenants' SLA calendars, which decide what is outside business hours for the counters, are read
at start (``prime``) and again by the first scrape ``calendar_ttl_s`` (a minute) after the previous read
(``CalendarCache``): an ``uhd-telephony import-sla`` here or in another process counts from then on, and the
service needs no task of its own. A failed read keeps the calendars known before. A stay keeps the decision
taken at its first event.

A scrape is sampled on the event loop (only the counters that changed since the previous scrape are copied)
and rendered by ``exposition.Renderer``: on the loop when it formats at most ``inline_lines`` lines (a couple of
milliseconds, the common case), otherwise in the default executor, where the interpreter's switch interval
hands the loop back every few milliseconds. One scrape renders at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Generic, TypeVar

from uhd_telephony.calls.domain import CallEvent
from uhd_telephony.metrics import queries
from uhd_telephony.metrics.exposition import Renderer
from uhd_telephony.metrics.live import (
    AmiSample,
    CallCounters,
    EventClock,
    Sample,
    TicketTotals,
    waiting_callers,
)
from uhd_telephony.metrics.members import MemberState
from uhd_telephony.sla import policy
from uhd_telephony.sla.calendar import Calendar

if TYPE_CHECKING:
    from uhd_telephony.ami.client import AmiClient
    from uhd_telephony.calls.service import CallService
    from uhd_telephony.calls.tracker import CallTracker
    from uhd_telephony.store.db import Database

log = logging.getLogger(__name__)

TICKET_TTL_S = 30.0
CALENDAR_TTL_S = 60.0
READ_TIMEOUT_S = 5.0
# a render formatting at most this many lines runs on the event loop: ~1-2 ms on a slow core
INLINE_LINES = 4_000

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
            except Exception as exc:  # the database may be briefly away: the last value serves meanwhile
                self.errors += 1
                log.warning("%s for /metrics not read: %r", self.what, exc)
        return self.value

    def set(self, value: T) -> None:
        """Take ``value`` as if just read (the render benchmark; a test that wants no database)."""
        self.value = value
        self._read_at = self.clock()

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
        self.renderer = Renderer()
        self.inline_lines = INLINE_LINES
        self.clock = clock
        self._render_lock = asyncio.Lock()

    def attach(self, calls: CallService) -> None:
        """Listen to a CallService that has been opened (store and bus up) and not yet connected to Asterisk."""
        self.tracker = calls.tracker
        self.ami = lambda: calls.client  # made only in connect()
        calls.bus.subscribe(self.counters, CallEvent, name="metrics")
        calls.pipeline.observers.extend([self.members, self.events])
        self.counters.restore(calls.tracker.calls.values())

    async def prime(self) -> None:
        """Read the SLA calendars, and create the series of the (tenant, queue) pairs with recent calls at 0
        (see ``live``'s docstring)."""
        if self.db is None:
            return
        await self.refresh_calendars()
        try:
            self.counters.prime(await queries.recent_pairs(self.db, datetime.now(UTC)))
        except Exception as exc:  # only a nicety: the series appear with their first call anyway
            log.warning("recent tenant/queue pairs not read for /metrics: %r", exc)

    async def refresh_calendars(self) -> None:
        """The counters take the calendars read last (at most every ``calendar_ttl_s``; on failure, the last ones)."""
        if self.calendars is None:
            return
        calendars = await self.calendars.get()
        if calendars is not None and calendars != self.counters.calendars:
            self.counters.calendars = calendars
            log.info("business hours for the call counters from the SLA calendars of %d tenant(s)", len(calendars))

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
        )

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

    async def render(self) -> bytes:
        """The ``/metrics`` text: sampled on the loop, rendered there when cheap, else in the default executor."""
        await self.refresh_calendars()
        tickets = await self.tickets.get() if self.tickets is not None else None
        async with self._render_lock:  # a render starts from the versions the previous one left
            sample = self.sample(tickets)
            if self.renderer.cost(sample) <= self.inline_lines:
                return self.renderer.render(sample)
            future = asyncio.get_running_loop().run_in_executor(None, self.renderer.render, sample)
            try:
                return await asyncio.shield(future)
            finally:
                if not future.done():  # the scrape was cancelled: the next render starts once this one ends
                    await asyncio.wait([future])
