"""The aiohttp application: ``init_app()`` builds it; each resource is one cleanup context, torn down in reverse."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from aiohttp import web
from aiohttp_session import session_middleware
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from uhd_telephony.accounts import api as accounts_api
from uhd_telephony.metrics import api as metrics_api
from uhd_telephony.security import api as security_api
from uhd_telephony.settings import Settings
from uhd_telephony.sla import api as sla_api
from uhd_telephony.tenants import api as tenants_api
from uhd_telephony.tickets import api as tickets_api
from uhd_telephony.tickets import category_api, status_page
from uhd_telephony.web import auth, console, keys, openapi, wallboard
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
) -> web.Application:
    """The web app; resources not handed in (database, pop hub and fan-out) are made and owned by it.

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
    app[keys.METRICS] = metrics  # issue #6: metrics.service.MetricsService, or None
    app[keys.FEATURES] = frozenset()  # issue #9: what ``routes`` add says so here (GET /api/me)
    app.cleanup_ctx.append(_database(db))
    app.cleanup_ctx.append(_services)
    app.cleanup_ctx.append(_security)  # issue #8: tokens, audit log, login lockout, tenants
    app.cleanup_ctx.append(_screenpop(hub, fanout))
    app.router.add_post("/api/login", auth.login)
    app.router.add_post("/api/logout", auth.logout)
    app.router.add_get("/api/me", auth.me)
    app.router.add_get("/healthz", healthz)
    console.add_routes(app)
    status_page.add_routes(app)  # the caller's status page: public, the token is the key
    tickets_api.add_routes(app)
    category_api.add_routes(app)  # the category tree edited through the API (operator admins)
    openapi.add_routes(app)
    metrics_api.add_routes(app)  # issue #6: GET /metrics, GET /api/tenants/{tenant}/kpis
    # issue #8: the admin API (accounts, tokens, audit log, tenants)
    accounts_api.add_routes(app)
    security_api.add_routes(app)
    tenants_api.add_routes(app)
    sla_api.add_routes(app)  # issue #7: escalations (list, acknowledge, de-escalate), a ticket's SLA
    wallboard.add_routes(app)  # issue #9: the live KPI page
    for add in routes:
        add(app)
    return app


async def healthz(request: web.Request) -> web.Response:
    """Each component's status; 503 when one that matters is down."""
    db_ok = await request.app[keys.DB].ping()
    body: dict[str, Any] = {"database": {"reachable": db_ok}}
    extra = request.app[keys.HEALTH]
    if extra is not None:
        body.update(extra())
    healthy = db_ok and all(part.get("healthy", True) for part in body.values() if isinstance(part, dict))
    return web.json_response({"healthy": healthy, **body}, status=200 if healthy else 503)


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


async def _services(app: web.Application) -> AsyncIterator[None]:
    from uhd_telephony.accounts.service import AccountService
    from uhd_telephony.callbacks.service import CallbackService
    from uhd_telephony.directory.lookup import DirectoryIndex
    from uhd_telephony.directory.repository import DirectoryRepository
    from uhd_telephony.tickets.service import TicketService

    db = app[keys.DB]
    app[keys.ACCOUNTS] = AccountService(db)
    app[keys.TICKETS] = TicketService(db, first_level_limit_s=app[keys.SETTINGS].first_level_limit_s)
    app[keys.CALLBACKS] = CallbackService(db)
    app[keys.DIRECTORY_REPO] = DirectoryRepository(db)
    index = DirectoryIndex()
    await index.load(db)
    app[keys.DIRECTORY] = index
    yield


async def _security(app: web.Application) -> AsyncIterator[None]:
    from uhd_telephony.security.audit import AuditLog
    from uhd_telephony.security.ratelimit import LoginGuard, LoginLimits
    from uhd_telephony.security.tokens import TokenService
    from uhd_telephony.tenants.service import TenantService

    db = app[keys.DB]
    settings = app[keys.SETTINGS]
    app[keys.TOKENS] = TokenService(db)
    app[keys.AUDIT] = AuditLog(db)
    app[keys.TENANTS] = TenantService(db)
    limits = LoginLimits(
        max_failures=settings.login_max_failures,
        ip_max_failures=settings.login_ip_max_failures,
        window_s=settings.login_window_s,
        lockout_s=settings.login_lockout_s,
    )
    app[keys.LOGIN_GUARD] = LoginGuard(limits, settings.redis_url, settings.redis_prefix)
    yield
    await app[keys.LOGIN_GUARD].close()


def _screenpop(hub: Any, fanout: Any) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        from uhd_telephony.screenpop.fanout import make_fanout
        from uhd_telephony.screenpop.hub import PopHub

        settings = app[keys.SETTINGS]
        app[keys.HUB] = hub if hub is not None else PopHub()
        owned = fanout is None
        app[keys.FANOUT] = make_fanout(app[keys.HUB], settings.redis_url, settings.redis_prefix) if owned else fanout
        if owned:
            await app[keys.FANOUT].start()
        yield
        if owned:
            await app[keys.FANOUT].close()

    return ctx
