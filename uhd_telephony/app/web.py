"""The aiohttp application: ``init_app()`` builds it; each resource is one cleanup context, torn down in reverse."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from aiohttp import web
from aiohttp_session import session_middleware
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from uhd_telephony.app.plugins import CAPABILITIES
from uhd_telephony.runtime.plugin import Capability
from uhd_telephony.settings import Settings
from uhd_telephony.web import auth, catalog, keys, openapi, pages
from uhd_telephony.web.health import healthz
from uhd_telephony.web.middleware import errors, hostile_input, security_headers

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # no request of the API needs more


def init_app(
    settings: Settings,
    *,
    db: Any = None,
    hub: Any = None,
    fanout: Any = None,
    ami: Callable[[], Any] | None = None,
    health: Callable[[], dict[str, Any]] | None = None,
    metrics: Any = None,
    routes: Sequence[Callable[[web.Application], None]] = (),
    capabilities: Sequence[Capability] = CAPABILITIES,
) -> web.Application:
    """The web app: the shared plumbing (login, console pages, OpenAPI, health), then every capability's services
    and routes (app/plugins.py). Resources not handed in (database, pop hub and fan-out) are made and owned by it.

    ``routes``: more routes to add (``uhd-telephony demo`` adds its softphone's); the app itself has them all.
    """
    storage = EncryptedCookieStorage(
        auth.session_key(settings),
        cookie_name="uhd_session",
        httponly=True,
        samesite="Strict",
        secure=settings.cookie_secure,
        max_age=settings.session_max_age_s,
    )
    app = web.Application(
        middlewares=[security_headers, errors, hostile_input, session_middleware(storage)],
        client_max_size=MAX_BODY,
    )
    app[keys.SETTINGS] = settings
    app[keys.AMI] = ami or (lambda: None)
    app[keys.HEALTH] = health
    app[keys.METRICS] = metrics  # metrics.service.MetricsService, or None (/metrics is then 404)
    app[keys.FEATURES] = frozenset()  # what ``routes`` add says so here (GET /api/me)
    if hub is not None:
        app[keys.HUB] = hub
    if fanout is not None:
        app[keys.FANOUT] = fanout
    app.cleanup_ctx.append(_database(db))
    for capability in capabilities:
        if capability.services is not None:
            app.cleanup_ctx.append(capability.services)
    app.router.add_get("/healthz", healthz)
    pages.add_routes(app)
    catalog.add_routes(app)
    openapi.add_routes(app)
    for capability in capabilities:
        if capability.routes is not None:
            capability.routes(app)
    for add in routes:
        add(app)
    return app


def _database(db: Any) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        from uhd_telephony.store.db import Database
        from uhd_telephony.store.migrate import migrate

        owned = db is None
        if owned:
            url = app[keys.SETTINGS].database_url
            await migrate(url)
            app[keys.DB] = Database(url)
        else:
            app[keys.DB] = db
        yield
        if owned:
            await app[keys.DB].close()

    return ctx
