"""The service: call tracking, tickets and screen-pops, and the web app with the console — in one process or
spread over several (``Settings.role``).

Start order: store and bus, then the web app (its services and the pop fan-out), then the screen-pop subscriber,
then the AMI connection — so no call event arrives before everyone who needs it listens. Shutdown in reverse.

Roles: ``all`` (the default: everything), ``web`` (pages, API, consoles: no AMI, no scanners; pops arrive through
Redis), ``tracker`` (AMI, pops' composition, scanners; of the web only ``/healthz`` and ``/metrics``). The
capabilities' listeners (the mail endpoint) run beside the web in ``all`` and ``web``, lease or not. A process
with a tracker part first takes the PBX's lease (``store.lease``): until it holds it, it stands by (its web part
serves, ``/healthz`` says ``standby``); once held it restores the calls in progress from the store, starts the
workers and connects — the resync and the queue_log backfill close the gap the previous holder left. A lease
lost while tracking (its database connection died) ends the process with exit code 1: a standby may hold the
lease already, and the supervisor starts this one again as a standby.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from uhd_telephony.store.lease import Lease, make_lease
from uhd_telephony.tenants.service import hotline_resolver

log = logging.getLogger(__name__)

OPS_PATHS = frozenset({"/healthz", "/metrics"})  # what a tracker-only process serves of the web


@web.middleware
async def ops_only(request: web.Request, handler: Any) -> web.StreamResponse:
    """A tracker-only process: its health and its metrics, nothing of the console or the API."""
    if request.path not in OPS_PATHS:
        raise web.HTTPNotFound(text="this process tracks calls only: consoles and the API are on the web processes")
    return await handler(request)


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
        role: str | None = None,
    ) -> None:
        """``mailer``: where the outbox's mail goes (default: SMTP per settings; the demo's is a directory);
        ``routes``: more web routes (the demo's softphone); ``role``: overrides ``settings.role``."""
        self.settings = settings
        self.role = role or settings.role
        if self.role not in ("all", "web", "tracker"):
            raise ValueError(f"unknown role {self.role!r}: all, web or tracker")
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
        self.listening: list[Running] = []  # the capabilities' listeners (the mail endpoint) of a web process
        self.port: int | None = None
        self.lease: Lease | None = None
        self.tracking = asyncio.Event()  # set once this process tracks the PBX (lease held, AMI connecting)
        self.failed = asyncio.Event()  # the lease was lost while tracking: the process must end
        self._lead: asyncio.Task[None] | None = None

    @property
    def tracks(self) -> bool:
        """Whether this process has a tracker part (it may still be standing by for the lease)."""
        return self.role in ("all", "tracker")

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
        await self.calls.open(restore=False)  # the calls in progress are restored once the lease is held
        assert self.calls.db is not None
        rt = self.runtime = Runtime(self.settings, self.calls.db, self.calls.bus)
        rt.provide("calls", self.calls)
        rt.provide("mailer", self.mailer)
        for capability in self.capabilities:
            if capability.prepare is not None:
                await capability.prepare(rt)
        metrics = rt.get("metrics")
        if metrics is not None:  # /metrics shows the calls and tickets only where the calls are tracked
            metrics.active = self.tracking.is_set
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
        if self.role == "tracker":
            self.app.middlewares.insert(0, ops_only)
        self.runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=5)
        await self.runner.setup()  # runs the app's cleanup contexts: every capability's services
        if self.web_enabled:
            site = web.TCPSite(self.runner, self.settings.http_host, self.settings.http_port)
            await site.start()
            self.port = _bound_port(self.runner)
            log.info("web on http://%s:%s (role %s)", self.settings.http_host, self.port, self.role)
            if self.role != "tracker":  # a process that serves the web serves its listeners too
                await self._listen(rt)
        if not self.tracks:
            return
        self.lease = make_lease(
            self.settings.database_url,
            f"tracker:{self.settings.ami_host}:{self.settings.ami_port}",
            retry_s=self.settings.lease_retry_s,
        )
        if await self.lease.try_acquire():  # the common case: nobody else tracks this PBX
            await self._track(rt)
        self._lead = asyncio.create_task(self._take_lead(rt), name="tracker lease")

    async def _listen(self, rt: Runtime) -> None:
        for capability in self.capabilities:
            if capability.listeners is not None:
                for running in capability.listeners(rt):
                    await running.worker.start()
                    self.listening.append(running)

    async def _take_lead(self, rt: Runtime) -> None:
        assert self.lease is not None
        try:
            if not self.tracking.is_set():
                await self.lease.acquire()
                await self._track(rt)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("tracker: taking over failed")
            self.failed.set()
            return
        await self.lease.lost.wait()
        log.critical("tracker lease lost: this process stops so that only one tracks the PBX")
        self.failed.set()

    async def _track(self, rt: Runtime) -> None:
        """The lease is held: calls in progress from the store, the workers, then Asterisk."""
        assert self.lease is not None
        if self.lease.attempts > 1:
            log.warning("tracker lease %s taken over after %d attempts: tracking calls", self.lease.name,
                        self.lease.attempts)  # fmt: skip
        await self.calls.restore()
        for capability in self.capabilities:
            if capability.workers is not None:
                for running in capability.workers(rt):
                    await running.worker.start()
                    self.running.append(running)
        self.tracking.set()
        await self.calls.connect()

    def _health(self) -> dict[str, Any]:
        """The call service's components, plus each worker that reports its state (outbox, 10-minute rule, ...)."""
        parts = self.calls.health() if self.tracking.is_set() else {}
        parts["tracker"] = {
            "role": self.role,
            "state": self._tracker_state(),
            "lease": self.lease.describe() if self.lease is not None else None,
        }
        for running in (*self.listening, *self.running):
            report = running.health()
            if report is not None and running.health_name is not None:
                parts[running.health_name] = report
        return parts

    def _tracker_state(self) -> str:
        if not self.tracks:
            return "off"
        if self.failed.is_set():
            return "lost"
        return "active" if self.tracking.is_set() else "standby"

    async def close(self) -> None:
        if self._lead is not None and not self._lead.done():
            self._lead.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lead
        while self.listening:  # no more mail taken in; what is being received is finished or told to retry
            await self.listening.pop().worker.close()
        await self.calls.disconnect()  # no more events; the bus has handed everything to its subscribers
        while self.running:  # in reverse: the composer before the outbox it writes to, ...
            running = self.running.pop()
            await running.worker.close()
        await self.calls.close()
        if self.runner is not None:
            await self.runner.cleanup()
        await self.fanout.close()
        if self.lease is not None:
            await self.lease.release()  # after the last write: a standby takes over from a complete store


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
        if server.tracks:
            log.info("tracker for Asterisk at %s:%d (%s)", settings.ami_host, settings.ami_port,
                     "tracking" if server.tracking.is_set() else "waiting for the lease")  # fmt: skip
        done = (asyncio.ensure_future(stop.wait()), asyncio.ensure_future(server.failed.wait()))
        try:
            await asyncio.wait(done, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in done:
                waiter.cancel()
    finally:
        await server.close()
    return 1 if server.failed.is_set() else 0
