"""The whole service in one process: call tracking, tickets and screen-pops, and the web app with the console.

Start order: store and bus, then the web app (its services and the pop fan-out), then the screen-pop subscriber,
then the AMI connection — so no call event arrives before everyone who needs it listens. Shutdown in reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import web

from uhd_telephony.calls.domain import CallAnswered, CallEnded, CallOffered
from uhd_telephony.screenpop.compose import ScreenPop
from uhd_telephony.screenpop.fanout import make_fanout
from uhd_telephony.screenpop.hub import PopHub
from uhd_telephony.service import CallService, install_stop
from uhd_telephony.settings import Settings
from uhd_telephony.web import keys
from uhd_telephony.web.app import init_app

log = logging.getLogger(__name__)


class Server:
    """Owns the CallService, the web runner, the pop fan-out and the screen-pop composer."""

    def __init__(self, settings: Settings, *, web_enabled: bool = True) -> None:
        self.settings = settings
        self.web_enabled = web_enabled
        self.calls = CallService(settings)
        self.hub = PopHub()
        self.fanout = make_fanout(self.hub, settings.redis_url, settings.redis_prefix)
        self.app: web.Application | None = None
        self.runner: web.AppRunner | None = None
        self.composer: ScreenPop | None = None
        self.port: int | None = None
        self._refresher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.calls.open()
        await self.fanout.start()
        self.app = init_app(
            self.settings,
            db=self.calls.db,
            hub=self.hub,
            fanout=self.fanout,
            ami=lambda: self.calls.client,  # made only in connect(), after the app has started
            health=self.calls.health,
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
        )
        self.calls.bus.subscribe(self.composer, CallOffered, CallAnswered, CallEnded, name="screenpop")
        self._refresher = asyncio.create_task(self._refresh_directory(), name="directory-refresh")
        await self.calls.connect()

    async def _refresh_directory(self) -> None:
        """Imports run in other processes (``uhd-telephony import-users``): pick up what changed."""
        assert self.app is not None and self.calls.db is not None
        db = self.calls.db
        while True:
            await asyncio.sleep(self.settings.directory_refresh_s)
            try:
                changed = await self.app[keys.DIRECTORY].refresh(db)
                if changed:
                    log.info("directory reloaded for %s", ", ".join(changed))
            except Exception as exc:  # the database may be briefly away: the old index serves meanwhile
                log.warning("directory refresh failed: %s", exc)

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        await self.calls.disconnect()  # no more events; the bus has handed everything to its subscribers
        if self.composer is not None:
            await self.composer.close()  # tickets and callbacks still being written need the database
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
