"""Wires the running service: AMI client → pipeline (tracker) → bus → store writer, and owns their lifetimes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TextIO

from uhd_telephony.ami.client import AmiClient
from uhd_telephony.calls.backfill import backfill_after_connect
from uhd_telephony.calls.domain import CallEnded, CallEvent
from uhd_telephony.calls.pipeline import CallPipeline, tracker_from_settings
from uhd_telephony.calls.records import CallRecord
from uhd_telephony.calls.repository import CallRepository
from uhd_telephony.calls.tracker import CallTracker, TenantResolver
from uhd_telephony.calls.writer import CallWriter
from uhd_telephony.errors import AmiNotConnected
from uhd_telephony.runtime.bus import Bus
from uhd_telephony.runtime.scanner import PeriodicScanner, PeriodicTask
from uhd_telephony.settings import Settings
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate

log = logging.getLogger(__name__)

TICK_S = 0.5  # how often calls waiting out their grace period are looked at


# the tenants table's resolver: (database, the settings' hotline numbers) -> resolver (tenants.service)
ResolverSource = Callable[[Database, Iterable[str]], Awaitable[TenantResolver | None]]


class CallService:
    """The call-tracking service: one AMI connection, one tracker, one bus, one batched store writer.

    Resources start in order and are torn down in reverse by ``close()``; the tracker is restored from the
    store's open calls at start and reconciled with Asterisk on every (re)connect.
    """

    def __init__(
        self,
        settings: Settings,
        bus: Bus | None = None,
        clock: Callable[[], float] = time.time,
        *,
        tenant_table: ResolverSource | None = None,
    ) -> None:
        """``tenant_table``: builds the hotline number → tenant resolver from the tenants table (the tenants
        capability's, handed in by the composition root); without it, the settings' numbers and queues decide."""
        self._tenant_table = tenant_table
        self.settings = settings
        self.bus = bus or Bus()
        self.clock = clock
        self.tracker: CallTracker = tracker_from_settings(settings)
        self.pipeline = CallPipeline(self.tracker, self.bus.publish_many, clock=clock)
        self.db: Database | None = None
        self.repository: CallRepository | None = None
        self.writer: CallWriter | None = None
        self.client: AmiClient | None = None
        self._ticker: TrackerTicker | None = None
        self._tenant_refresher: TenantRefresher | None = None
        self._resolver_from_table = False  # True: the resolver is ours to rebuild when the tenants table changes
        self._started_at = 0.0
        self.resyncs = 0
        # called after a queue_log backfill recorded answered calls (the server wakes its ticket catch-up)
        self.after_backfill: list[Callable[[], None]] = []
        # called with the calls taken back from the store (the live counters mark them as counted)
        self.on_restore: list[Callable[[list[CallRecord]], None]] = []

    async def start(self) -> None:
        await self.open()
        await self.connect()

    async def open(self, *, restore: bool = True) -> None:
        """Database, store writer, bus and (``restore``) the calls restored from the store: everything but
        Asterisk. A process standing by for the tracker lease restores only when it takes over (``restore()``):
        the calls in progress are the ones the store holds then."""
        self._started_at = time.monotonic()
        await migrate(self.settings.database_url)
        self.db = Database(self.settings.database_url)
        # hotline number -> tenant from the tenants table; UHD_TENANT_NUMBERS/QUEUES stay the fallback
        if self.tracker.tenant_resolver is None and self._tenant_table is not None:
            self._resolver_from_table = True
            await self.refresh_tenants()
        self.repository = CallRepository(self.db)
        self.writer = CallWriter(
            self.repository,
            batch_size=self.settings.store_batch_size,
            flush_interval_s=self.settings.store_flush_interval_s,
            retry_max_s=self.settings.store_retry_max_s,
        )
        await self.writer.start()
        self.bus.subscribe(self._store, CallEvent, name="store")
        await self.bus.start()
        if restore:
            await self.restore()

    async def restore(self) -> list[CallRecord]:
        """Take back the calls the store holds as in progress (before connecting: the resync reconciles them)."""
        assert self.repository is not None, "open() first"
        open_calls = await self.repository.open_calls()
        self.tracker.restore(open_calls)
        for hook in self.on_restore:
            hook(open_calls)
        if open_calls:
            log.info("restored %d calls in progress from the store", len(open_calls))
        return open_calls

    async def connect(self) -> None:
        """Connect to Asterisk: events flow from here on, so subscribe everything before calling this."""
        self.client = AmiClient(self.settings, on_event=self.pipeline.on_fields, on_connect=self._on_connect)
        await self.client.start()
        self._ticker = TrackerTicker(self.pipeline)
        await self._ticker.start()
        if self._resolver_from_table and self.db is not None:
            self._tenant_refresher = TenantRefresher(self)
            await self._tenant_refresher.start()

    def _store(self, event: CallEvent) -> None:
        assert self.writer is not None
        self.writer.submit(event.call)

    async def _on_connect(self, client: AmiClient) -> None:
        """After every login: ask Asterisk what is live and reconcile (calls across a gap end correctly)."""
        snapshot = await client.snapshot()
        before = self.tracker.stats.resynced
        self.pipeline.resync(snapshot)
        self.resyncs += 1
        log.info(
            "resynced with Asterisk: %d waiting, %d channels, %d calls reconciled",
            len(snapshot.entries),
            len(snapshot.channels),
            self.tracker.stats.resynced - before,
        )
        if self.settings.queue_log and self.db is not None:
            # calls Asterisk logged in its queue_log while we could not see it (calls/backfill.py)
            result = await backfill_after_connect(self.settings, self.db, self.tracker, self.writer, snapshot.now)
            if result is not None and result.answered:
                for hook in self.after_backfill:
                    hook()  # e.g. the ticket catch-up: the answered calls found only now get their tickets

    async def refresh_tenants(self) -> bool:
        """Rebuild the hotline number → tenant resolver from the tenants table (``uhd-telephony tenant add`` and
        the admin API write it from other processes); True when it changed. Calls already tracked keep their
        tenant; the next call to a new hotline number is attributed right."""
        if not self._resolver_from_table or self.db is None or self._tenant_table is None:
            return False
        resolver = await self._tenant_table(self.db, self.tracker.tenant_numbers)
        if resolver == self.tracker.tenant_resolver:
            return False
        self.tracker.tenant_resolver = resolver
        return True

    async def disconnect(self) -> None:
        """Stop taking events and let every subscriber have what was published (idempotent)."""
        for loop in (self._ticker, self._tenant_refresher):
            if loop is not None:
                await loop.close()
        self._ticker = self._tenant_refresher = None
        if self.client is not None:
            await self.client.close()
        # calls still in progress stay open in the store and are restored at the next start
        await self.bus.close()

    async def close(self) -> None:
        """Stop taking events, hand everything to the store, flush it, close the database."""
        await self.disconnect()
        if self.writer is not None:
            await self.writer.close()
        if self.db is not None:
            await self.db.close()
        stats = self.tracker.stats
        log.info(
            "shutdown: %d events, %d calls offered, %d finished, %d in progress, %d orphan, %d duplicate and %d"
            " ignored events, %d records written, up %.0f s",
            stats.events,
            stats.offered,
            stats.finished,
            len(self.tracker.calls),
            stats.orphans,
            stats.duplicates,
            stats.ignored,
            self.writer.stats.written if self.writer is not None else 0,
            time.monotonic() - self._started_at,
        )

    def health(self) -> dict[str, Any]:
        """Each component's status, for ``run --check`` and the health endpoint."""
        ami = self.client.status if self.client is not None else None
        writer = self.writer.stats if self.writer is not None else None
        return {
            "ami": {
                "connected": bool(ami and ami.authenticated),
                "last_error": ami.last_error if ami else None,
                "reconnects": ami.reconnects if ami else 0,
            },
            "store": {
                "healthy": bool(writer and writer.healthy),
                "pending": writer.pending if writer else 0,
                "last_error": writer.last_error if writer else None,
            },
            "calls": {
                "in_progress": len(self.tracker.calls),
                "finished": self.tracker.stats.finished,
                # events that made no call of their own: rebuilt from mid-call (orphan), repeated, or belonging to
                # nothing the tracker can attribute (no caller channel, a straggler after the caller hung up)
                "orphan_events": self.tracker.stats.orphans,
                "duplicate_events": self.tracker.stats.duplicates,
                "ignored_events": self.tracker.stats.ignored,
            },
        }


class TrackerTicker(PeriodicTask):
    """Every ``TICK_S``: the tracker looks at the calls waiting out their grace period."""

    label = "tracker-tick"
    scan_at_start = False

    def __init__(self, pipeline: CallPipeline, interval_s: float = TICK_S) -> None:
        super().__init__(interval_s=interval_s)
        self.pipeline = pipeline

    async def scan_once(self) -> int:
        try:
            self.pipeline.tick()
        except Exception:  # a bug in one tick must not stop call tracking
            log.exception("tracker tick failed")
        return 0


class TenantRefresher(PeriodicScanner):
    """Every ``directory_refresh_s``: the hotline number → tenant resolver rebuilt from the tenants table
    (``CallService.refresh_tenants``); a failed read (the database briefly away) keeps the resolver we have."""

    label = "tenant refresh"
    scan_at_start = False  # the resolver was built in open()

    def __init__(self, calls: CallService) -> None:
        assert calls.db is not None
        super().__init__(calls.db, interval_s=calls.settings.directory_refresh_s)
        self.calls = calls

    async def scan_once(self) -> int:
        if await self.calls.refresh_tenants():
            log.info("hotline numbers reloaded from the tenants table")
            return 1
        return 0


def install_stop(stop: asyncio.Event) -> list[signal.Signals]:
    """SIGINT and SIGTERM set ``stop``: the caller then shuts down cleanly. Returns the signals handled (none
    where the loop cannot, e.g. outside the main thread), for a caller that removes its handlers afterwards."""
    loop = asyncio.get_running_loop()
    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    return handled


async def check(settings: Settings, out: TextIO = sys.stdout) -> int:
    """``uhd-telephony run --check``: can we log in to Asterisk and reach the database? Exit 0 or 1."""
    result: dict[str, Any] = {}
    db = Database(settings.database_url)
    try:
        result["database"] = {"reachable": await db.ping()}
    finally:
        await db.close()
    client = AmiClient(settings, on_event=lambda *_: None)
    await client.start()
    try:
        # returns at login: FullyBooted needs read=system, which a least-privilege AMI user may not have
        authenticated = True
        try:
            await client.wait_connected(settings.ami_connect_timeout_s + 1)
        except AmiNotConnected:
            authenticated = False
        result["ami"] = {"authenticated": authenticated, "last_error": client.status.last_error}
    finally:
        await client.close()
    ok = result["database"]["reachable"] and result["ami"]["authenticated"]
    out.write(json.dumps({"ok": ok, **result}) + "\n")
    return 0 if ok else 1


async def store_domain_events(settings: Settings, events: Iterable[CallEvent]) -> int:
    """Write the records a replay produced, through the same writer the service uses; returns calls ended."""
    await migrate(settings.database_url)
    db = Database(settings.database_url)
    writer = CallWriter(CallRepository(db), batch_size=settings.store_batch_size)
    await writer.start()
    ended = 0
    try:
        for event in events:
            writer.submit(event.call)
            ended += isinstance(event, CallEnded)
    finally:
        await writer.close()
        await db.close()
    return ended
