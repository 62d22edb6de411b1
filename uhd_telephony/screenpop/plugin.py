"""Screen-pops as the process runs them: the consoles' hub and the fan-out between processes (Redis or in-process),
the composer that turns answered calls into a ticket and a pop, and the catch-up for work a database outage lost."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from uhd_telephony.calls.domain import CallAnswered, CallEnded, CallOffered
from uhd_telephony.runtime.plugin import Capability, Running, Runtime
from uhd_telephony.screenpop import console
from uhd_telephony.screenpop.catchup import FollowUpScanner
from uhd_telephony.screenpop.compose import ScreenPop
from uhd_telephony.screenpop.fanout import make_fanout
from uhd_telephony.screenpop.hub import PopHub
from uhd_telephony.web import keys


async def services(app: web.Application) -> AsyncIterator[None]:
    """The pop hub of this process's consoles and the fan-out; an app handed them (the server) keeps its own."""
    settings = app[keys.SETTINGS]
    if keys.HUB not in app:
        app[keys.HUB] = PopHub()
    owned = keys.FANOUT not in app
    if owned:
        app[keys.FANOUT] = make_fanout(app[keys.HUB], settings.redis_url, settings.redis_prefix)
        await app[keys.FANOUT].start()
    yield
    if owned:
        await app[keys.FANOUT].close()


class Composing:
    """The composer as a server worker: subscribed to the call events at start, drained and closed at the end."""

    def __init__(self, rt: Runtime, composer: ScreenPop) -> None:
        self.rt = rt
        self.composer = composer

    async def start(self) -> None:
        self.rt.bus.subscribe(self.composer, CallOffered, CallAnswered, CallEnded, name="screenpop")

    async def close(self) -> None:
        await self.composer.close()  # tickets and callbacks still being written need the database


def workers(rt: Runtime) -> list[Running]:
    app = rt.web
    followup: FollowUpScanner | None = None

    def catch_up_soon() -> None:
        """The composer's work for a call failed: the catch-up runs now and then until it has it done."""
        if followup is not None:
            followup.wake()

    composer = ScreenPop(
        rt.db,
        accounts=app[keys.ACCOUNTS],
        tickets=app[keys.TICKETS],
        callbacks=app[keys.CALLBACKS],
        directory=app[keys.DIRECTORY],
        fanout=app[keys.FANOUT],
        on_failure=catch_up_soon,
    )
    calls = rt.get("calls")

    def store_healthy() -> bool:
        writer = calls.writer if calls is not None else None
        return writer is not None and writer.stats.healthy

    # its first scan at start: what was lost while no instance ran (or before a crash) is done before new calls
    followup = FollowUpScanner(
        rt.db,
        composer,
        interval_s=rt.settings.catchup_scan_s,
        retry_s=rt.settings.catchup_retry_s,
        window_s=rt.settings.catchup_window_s,
        store_healthy=store_healthy,
    )
    if calls is not None:
        calls.after_backfill.append(catch_up_soon)  # answered calls found in the queue_log get their tickets
    rt.provide("composer", composer)
    rt.provide("followup", followup)
    return [Running(Composing(rt, composer)), Running(followup, "followup")]


# the agent console (its page, WebSocket and JSON) is the screen-pop's face
CAPABILITY = Capability(name="screenpop", routes=console.add_routes, services=services, workers=workers)
