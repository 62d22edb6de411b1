"""How a capability plugs into the process: its ``plugin.py`` returns one ``Capability``; ``app/`` wires them all.

A capability declares what it adds — its tables (a models module the schema registry imports), its web routes, the
services its handlers reach through ``request.app[...]`` (an aiohttp cleanup context), the background workers the
server starts and stops, and what it does once the store is open (subscribing to the bus, hooks). Nothing else
imports a capability's internals to wire it: adding one is a new package and one line in ``app/plugins.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from aiohttp import web

    from uhd_telephony.runtime.bus import Bus
    from uhd_telephony.settings import Settings
    from uhd_telephony.store.db import Database


class Worker(Protocol):
    """A background part the server owns: started after the web app, closed in reverse order."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class Running:
    """One worker and the name its status has in ``/healthz`` (None: not shown)."""

    worker: Worker
    health_name: str | None = None

    def health(self) -> dict[str, Any] | None:
        report = getattr(self.worker, "health", None)
        return report() if callable(report) and self.health_name else None


@dataclass
class Runtime:
    """What the server hands every capability: settings, the open store, the bus, the web app with its services,
    and the extras one capability offers another (``provide``/``get``: the metrics service, the call service)."""

    settings: Settings
    db: Database
    bus: Bus
    app: web.Application | None = None  # set once the web app exists (after every ``prepare``)
    extras: dict[str, Any] = field(default_factory=dict)

    def provide(self, name: str, value: Any) -> None:
        self.extras[name] = value

    def get(self, name: str) -> Any:
        return self.extras.get(name)

    @property
    def web(self) -> web.Application:
        """The web app with its services (for ``workers``: it exists by then)."""
        if self.app is None:
            raise RuntimeError("the web app is made after every capability's prepare step")
        return self.app


@dataclass(frozen=True)
class Capability:
    """What one capability adds; every part is optional."""

    name: str
    # the module whose import registers the capability's tables on store.models.Base (app/schema.py imports it)
    models: str | None = None
    # its web routes
    routes: Callable[[web.Application], None] | None = None
    # its app services: an aiohttp cleanup context that puts them under their AppKeys and closes them afterwards
    services: Callable[[web.Application], AsyncIterator[None]] | None = None
    # before the web app exists, with the store open (the live metrics attach to the call pipeline here)
    prepare: Callable[[Runtime], Awaitable[None]] | None = None
    # its background workers, made once the web app's services exist; started in order, closed in reverse
    workers: Callable[[Runtime], list[Running]] | None = None
    # its servers beside the web (the mail endpoint), made once the web app's services exist: they run in every
    # process that serves the web (roles all and web), lease or not — any of them may take a request; closed first
    listeners: Callable[[Runtime], list[Running]] | None = None
