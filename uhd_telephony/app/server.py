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

from uhd_telephony.app.plugins import CAPABILITIES
from uhd_telephony.app.web import init_app
from uhd_telephony.calls.service import CallService, install_stop
from uhd_telephony.outbox.mail import Mailer
from uhd_telephony.runtime.plugin import Capability, Running, Runtime
from uhd_telephony.screenpop.fanout import make_fanout
from uhd_telephony.screenpop.hub import PopHub
from uhd_telephony.settings import Settings
from uhd_telephony.tenants.service import hotline_resolver

log = logging.getLogger(__name__)


class _Part:
    """``server.metrics`` & co.: the part a capability provided under the attribute's name (None before start)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, server: Server, owner: type | None = None) -> Any:
        return server.part(self.name)


class Server:
    """Owns the CallService, the web runner and every capability's workers (app/plugins.py)."""

    def __init__(
        self,
        settings: Settings,
        *,
        web_enabled: bool = True,
        mailer: Mailer | None = None,
        routes: Sequence[Callable[[web.Application], None]] = (),
        capabilities: Sequence[Capability] = CAPABILITIES,
    ) -> None:
        """``mailer``: where the outbox's mail goes (default: SMTP per settings; the demo's is a directory);
        ``routes``: more web routes (the demo's softphone)."""
        self.settings = settings
        self.web_enabled = web_enabled
        self.mailer = mailer
        self.routes = tuple(routes)
        self.capabilities = tuple(capabilities)
        self.calls = CallService(settings, tenant_table=hotline_resolver)
        # the pop fan-out outlives the web runner: consoles' sockets close first, then the fan-out
        self.hub = PopHub()
        self.fanout = make_fanout(self.hub, settings.redis_url, settings.redis_prefix)
        self.app: web.Application | None = None
        self.runner: web.AppRunner | None = None
        self.runtime: Runtime | None = None
        self.running: list[Running] = []
        self.port: int | None = None

    # what the capabilities made, by the name they provide it under (tests and the demo look at them)
    def part(self, name: str) -> Any:
        return self.runtime.get(name) if self.runtime is not None else None

    metrics = _Part()
    composer = _Part()
    followup = _Part()
    outbox = _Part()
    first_level = _Part()
    sla = _Part()
    kpi_daily = _Part()
    callback_housekeeping = _Part()
    directory_refresh = _Part()

    async def start(self) -> None:
        """Store and bus, each capability's prepare step (the live metrics attach before the first AMI event),
        the web app with every service, the workers, then the AMI connection — so no call event arrives before
        everyone who needs it listens."""
        await self.calls.open()
        assert self.calls.db is not None
        rt = self.runtime = Runtime(self.settings, self.calls.db, self.calls.bus)
        rt.provide("calls", self.calls)
        rt.provide("mailer", self.mailer)
        for capability in self.capabilities:
            if capability.prepare is not None:
                await capability.prepare(rt)
        await self.fanout.start()
        self.app = rt.app = init_app(
            self.settings,
            db=self.calls.db,
            hub=self.hub,
            fanout=self.fanout,
            ami=lambda: self.calls.client,  # made only in connect(), after the app has started
            health=self._health,
            metrics=rt.get("metrics"),
            routes=self.routes,
            capabilities=self.capabilities,
        )
        self.runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=5)
        await self.runner.setup()  # runs the app's cleanup contexts: every capability's services
        if self.web_enabled:
            site = web.TCPSite(self.runner, self.settings.http_host, self.settings.http_port)
            await site.start()
            self.port = _bound_port(self.runner)
            log.info("web console on http://%s:%s/console", self.settings.http_host, self.port)
        for capability in self.capabilities:
            if capability.workers is not None:
                for running in capability.workers(rt):
                    await running.worker.start()
                    self.running.append(running)
        await self.calls.connect()

    def _health(self) -> dict[str, Any]:
        """The call service's components, plus each worker that reports its state (outbox, 10-minute rule, ...)."""
        parts = self.calls.health()
        for running in self.running:
            report = running.health()
            if report is not None and running.health_name is not None:
                parts[running.health_name] = report
        return parts

    async def close(self) -> None:
        await self.calls.disconnect()  # no more events; the bus has handed everything to its subscribers
        while self.running:  # in reverse: the composer before the outbox it writes to, ...
            running = self.running.pop()
            await running.worker.close()
        await self.calls.close()
        if self.runner is not None:
            await self.runner.cleanup()
        await self.fanout.close()


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
