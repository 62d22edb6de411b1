"""The whole service in one process: call tracking, tickets and screen-pops, and the web app with the console.

Start order: store and bus, then the web app (its services and the pop fan-out), then the screen-pop subscriber,
then the AMI connection — so no call event arrives before everyone who needs it listens. Shutdown in reverse.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from uhd_telephony.app.web import init_app
from uhd_telephony.callbacks.housekeeping import CallbackHousekeeping
from uhd_telephony.calls.domain import CallAnswered, CallEnded, CallOffered
from uhd_telephony.calls.service import CallService, install_stop
from uhd_telephony.directory.lookup import DirectoryIndex
from uhd_telephony.metrics.daily import KpiDailyScanner
from uhd_telephony.metrics.service import MetricsService
from uhd_telephony.outbox.mail import Mailer
from uhd_telephony.outbox.service import OutboxWorker
from uhd_telephony.runtime.scanner import PeriodicScanner
from uhd_telephony.screenpop.catchup import FollowUpScanner
from uhd_telephony.screenpop.compose import ScreenPop
from uhd_telephony.screenpop.fanout import make_fanout
from uhd_telephony.screenpop.hub import PopHub
from uhd_telephony.settings import Settings
from uhd_telephony.sla.escalation import SlaScanner
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.routing import FirstLevelScanner
from uhd_telephony.web import keys

log = logging.getLogger(__name__)


class Server:
    """Owns the CallService, the web runner, the pop fan-out and the screen-pop composer."""

    def __init__(
        self,
        settings: Settings,
        *,
        web_enabled: bool = True,
        mailer: Mailer | None = None,
        routes: Sequence[Callable[[web.Application], None]] = (),
    ) -> None:
        """``mailer``: where the outbox's mail goes (default: SMTP per settings; the demo's is a directory);
        ``routes``: more web routes (the demo's softphone)."""
        self.settings = settings
        self.web_enabled = web_enabled
        self.mailer = mailer
        self.routes = tuple(routes)
        self.calls = CallService(settings)
        self.hub = PopHub()
        self.fanout = make_fanout(self.hub, settings.redis_url, settings.redis_prefix)
        self.app: web.Application | None = None
        self.runner: web.AppRunner | None = None
        self.composer: ScreenPop | None = None
        self.metrics: MetricsService | None = None  # issue #6: /metrics, made in start() once the store is open
        self.port: int | None = None
        self.directory_refresh: DirectoryRefresh | None = None
        # issue #5: the outbox worker (caller mails, work orders) and the 10-minute rule, made in start()
        self.outbox: OutboxWorker | None = None
        self.first_level: FirstLevelScanner | None = None
        self.sla: SlaScanner | None = None  # issue #7: SLA warnings and breaches, made in start()
        self.kpi_daily: KpiDailyScanner | None = None  # issue #6: the KPI history for Grafana, made in start()
        # tickets and callback entries the live path lost (the database away), from the stored calls
        self.followup: FollowUpScanner | None = None
        self.callback_housekeeping: CallbackHousekeeping | None = None  # stuck dials reopened, old entries expired

    async def start(self) -> None:
        await self.calls.open()
        # issue #6: live metrics subscribe before the first AMI event (counters, queue members, AMI time)
        self.metrics = MetricsService(db=self.calls.db)
        self.metrics.attach(self.calls)
        await self.metrics.prime()
        await self.fanout.start()
        self.app = init_app(
            self.settings,
            db=self.calls.db,
            hub=self.hub,
            fanout=self.fanout,
            ami=lambda: self.calls.client,  # made only in connect(), after the app has started
            health=self._health,
            metrics=self.metrics,  # issue #6
            routes=self.routes,
        )
        self.runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=5)
        await self.runner.setup()  # runs the app's cleanup contexts: services, directory index
        if self.web_enabled:
            site = web.TCPSite(self.runner, self.settings.http_host, self.settings.http_port)
            await site.start()
            self.port = _bound_port(self.runner)
            log.info("web console on http://%s:%s/console", self.settings.http_host, self.port)
        app = self.app
        self.composer = ScreenPop(
            self.calls.db,
            accounts=app[keys.ACCOUNTS],
            tickets=app[keys.TICKETS],
            callbacks=app[keys.CALLBACKS],
            directory=app[keys.DIRECTORY],
            fanout=self.fanout,
            on_failure=self._catch_up_soon,
        )
        self.calls.bus.subscribe(self.composer, CallOffered, CallAnswered, CallEnded, name="screenpop")
        assert self.calls.db is not None
        # its first scan now: what was lost while no instance ran (or before a crash) is done before new calls
        self.followup = FollowUpScanner(
            self.calls.db,
            self.composer,
            interval_s=self.settings.catchup_scan_s,
            retry_s=self.settings.catchup_retry_s,
            window_s=self.settings.catchup_window_s,
            store_healthy=self._store_healthy,
        )
        await self.followup.start()
        self.calls.after_backfill.append(self._catch_up_soon)
        self.callback_housekeeping = CallbackHousekeeping(
            self.calls.db,
            app[keys.CALLBACKS],
            interval_s=self.settings.callback_scan_s,
            stale_s=self.settings.callback_dial_stale_s,
            expire_s=self.settings.callback_expire_s,
        )
        await self.callback_housekeeping.start()
        self.directory_refresh = DirectoryRefresh(
            self.calls.db, app[keys.DIRECTORY], self.metrics, interval_s=self.settings.directory_refresh_s
        )
        await self.directory_refresh.start()
        # --- issue #5: routing and notifications ----------------------------------------------------------
        # after the app (its tickets service writes outbox rows), before AMI (calls open phone tickets)
        self.outbox = OutboxWorker(self.calls.db, self.settings, mailer=self.mailer)
        await self.outbox.start()
        self.first_level = FirstLevelScanner(self.calls.db, interval_s=self.settings.first_level_scan_s)
        await self.first_level.start()
        # --- end issue #5 ---------------------------------------------------------------------------------
        # --- issue #7: SLA escalation: fires due warnings/breaches (outbox rows), once across instances ---
        self.sla = SlaScanner(self.calls.db, interval_s=self.settings.sla_scan_s)
        await self.sla.start()
        # --- end issue #7 ---------------------------------------------------------------------------------
        # issue #6: today's and yesterday's kpi_daily rows (reads calls and tickets, writes only its table)
        self.kpi_daily = KpiDailyScanner(self.calls.db, interval_s=self.settings.kpi_daily_s)
        await self.kpi_daily.start()
        await self.calls.connect()

    def _catch_up_soon(self) -> None:
        """The composer's work for a call failed: the catch-up runs now and then until it has it done."""
        if self.followup is not None:
            self.followup.wake()

    def _store_healthy(self) -> bool:
        writer = self.calls.writer
        return writer is not None and writer.stats.healthy

    def _health(self) -> dict[str, Any]:
        """The call service's components, plus the outbox backlog and the 10-minute rule (issue #5)."""
        parts = self.calls.health()
        if self.outbox is not None:
            parts["outbox"] = self.outbox.health()
        if self.first_level is not None:
            parts["first_level_rule"] = self.first_level.health()
        if self.sla is not None:  # issue #7
            parts["sla_escalation"] = self.sla.health()
        if self.kpi_daily is not None:  # issue #6
            parts["kpi_daily"] = self.kpi_daily.health()
        if self.followup is not None:
            parts["followup"] = self.followup.health()
        if self.callback_housekeeping is not None:
            parts["callback_housekeeping"] = self.callback_housekeeping.health()
        return parts

    async def close(self) -> None:
        if self.directory_refresh is not None:
            await self.directory_refresh.close()
        await self.calls.disconnect()  # no more events; the bus has handed everything to its subscribers
        if self.composer is not None:
            await self.composer.close()  # tickets and callbacks still being written need the database
        for scanner in (self.followup, self.callback_housekeeping):
            if scanner is not None:
                await scanner.close()
        if self.kpi_daily is not None:  # issue #6: needs the database only
            await self.kpi_daily.close()
        # --- issue #7: stop the SLA scanner before the outbox it writes to --------------------------------
        if self.sla is not None:
            await self.sla.close()
        # --- end issue #7 ---------------------------------------------------------------------------------
        # --- issue #5: stop the 10-minute rule, then let the outbox finish its batch; both need the database
        if self.first_level is not None:
            await self.first_level.close()
        if self.outbox is not None:
            await self.outbox.close()
        # --- end issue #5 ---------------------------------------------------------------------------------
        await self.calls.close()
        if self.runner is not None:
            await self.runner.cleanup()
        await self.fanout.close()


class DirectoryRefresh(PeriodicScanner):
    """Imports run in other processes (``uhd-telephony import-users``, ``import-sla``): pick up what changed —
    the directory index, and the SLA calendars the live call counters classify by (also without scrapes).

    Both were just loaded at start, so the first look waits one interval. A failed directory read is logged by
    the scan loop and the old index serves meanwhile; the calendars are looked at all the same."""

    label = "directory refresh"
    scan_at_start = False

    def __init__(
        self, db: Database, directory: DirectoryIndex, metrics: MetricsService | None, *, interval_s: float
    ) -> None:
        super().__init__(db, interval_s=interval_s)
        self.directory = directory
        self.metrics = metrics

    async def scan_once(self) -> int:
        try:
            changed = await self.directory.refresh(self.db)
            if changed:
                log.info("directory reloaded for %s", ", ".join(changed))
            return len(changed)
        finally:
            if self.metrics is not None:
                await self.metrics.refresh_calendars()  # at most every 60 s; a failed read keeps the last ones


def _bound_port(runner: web.AppRunner) -> int | None:
    for site in runner.sites:
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        for sock in sockets:
            return int(sock.getsockname()[1])
    return None


async def serve(settings: Settings, stop: asyncio.Event | None = None, **options: Any) -> int:
    """``uhd-telephony run``: until SIGTERM or Ctrl-C, then flush and exit cleanly."""
    stop = stop or asyncio.Event()
    install_stop(stop)
    server = Server(settings, **options)
    try:
        await server.start()
        log.info("tracking calls from Asterisk at %s:%d", settings.ami_host, settings.ami_port)
        await stop.wait()
    finally:
        await server.close()
    return 0
