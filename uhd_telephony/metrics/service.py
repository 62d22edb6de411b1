"""MetricsService: everything ``/metrics`` shows, wired to one CallService, and the render off the event loop.

Wiring (``attach``): ``CallCounters`` subscribes to the bus; ``MemberState`` (queue members) and ``EventClock``
(AMI time) observe the pipeline's typed events and resync snapshots; calls restored from the store are marked
as counted. Tickets come from the database at scrape time, at most every ``ticket_ttl_s`` (``TicketStatsCache``):
there are no ticket events to count, routing and escalation (issue #5) only append history rows, and a
database total survives restarts and counts what any process wrote.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from uhd_telephony.calls.domain import CallEvent
from uhd_telephony.metrics import queries
from uhd_telephony.metrics.live import (
    AmiSample,
    CallCounters,
    EventClock,
    Renderer,
    Sample,
    TicketTotals,
    waiting_callers,
)
from uhd_telephony.metrics.members import MemberState

if TYPE_CHECKING:
    from uhd_telephony.ami.client import AmiClient
    from uhd_telephony.calls.tracker import CallTracker
    from uhd_telephony.service import CallService
    from uhd_telephony.store.db import Database

log = logging.getLogger(__name__)

TICKET_TTL_S = 30.0
TICKET_TIMEOUT_S = 5.0


class TicketStatsCache:
    """The all-time ticket totals, read at most every ``ttl_s``; a failed read keeps serving the last ones."""

    def __init__(
        self,
        db: Database,
        ttl_s: float = TICKET_TTL_S,
        timeout_s: float = TICKET_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self.clock = clock
        self.totals: TicketTotals | None = None
        self.errors = 0
        self.reads = 0
        self._read_at: float | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> TicketTotals | None:
        if self._fresh():
            return self.totals
        async with self._lock:  # one read at a time; scrapes that queued behind it take its result
            if self._fresh():
                return self.totals
            self._read_at = self.clock()  # also after a failure: the next try waits a TTL, not the next scrape
            try:
                async with asyncio.timeout(self.timeout_s):
                    self.totals = await queries.ticket_totals(self.db)
                self.reads += 1
            except Exception as exc:  # the database may be briefly away: the last totals serve meanwhile
                self.errors += 1
                log.warning("ticket totals for /metrics not read: %r", exc)
        return self.totals

    def set(self, totals: TicketTotals) -> None:
        """Take ``totals`` as if just read (the render benchmark; a test that wants no database)."""
        self.totals = totals
        self._read_at = self.clock()

    def _fresh(self) -> bool:
        return self._read_at is not None and self.clock() - self._read_at < self.ttl_s


class MetricsService:
    """The live metrics of one process: counters, member state, AMI state, ticket totals; ``render()`` for /metrics."""

    def __init__(
        self,
        *,
        db: Database | None = None,
        tracker: CallTracker | None = None,
        ami: Callable[[], AmiClient | None] | None = None,
        ticket_ttl_s: float = TICKET_TTL_S,
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
        self.renderer = Renderer()
        self.clock = clock

    def attach(self, calls: CallService) -> None:
        """Listen to a CallService that has been opened (store and bus up) and not yet connected to Asterisk."""
        self.tracker = calls.tracker
        self.ami = lambda: calls.client  # made only in connect()
        calls.bus.subscribe(self.counters, CallEvent, name="metrics")
        calls.pipeline.observers.extend([self.members, self.events])
        self.counters.restore(calls.tracker.calls.values())

    async def prime(self) -> None:
        """Create the series of the (tenant, queue) pairs with recent calls at 0 (see ``live``'s docstring)."""
        if self.db is None:
            return
        try:
            self.counters.prime(await queries.recent_pairs(self.db, datetime.now(UTC)))
        except Exception as exc:  # only a nicety: the series appear with their first call anyway
            log.warning("recent tenant/queue pairs not read for /metrics: %r", exc)

    def sample(self, tickets: TicketTotals | None = None) -> Sample:
        """Everything a scrape shows, taken now on the event loop."""
        wall = self.clock()
        calls = self.counters.sample()
        active = self.tracker.calls.values() if self.tracker is not None else ()
        waiting = waiting_callers(active, self.events.now(wall), self.counters.pair_of, known=calls)
        return Sample(
            calls=calls,
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
        """The ``/metrics`` text: sampled here, rendered by ``generate_latest`` in the default executor."""
        tickets = await self.tickets.get() if self.tickets is not None else None
        sample = self.renderer.prepare(self.sample(tickets))
        return await asyncio.get_running_loop().run_in_executor(None, self.renderer.render, sample)
