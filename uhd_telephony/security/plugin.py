"""API tokens, login sessions, the audit log and the login lockout: their tables, the admin API, the services
the login uses."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from uhd_telephony.audit.log import AuditLog
from uhd_telephony.runtime.plugin import Capability
from uhd_telephony.security import api, confidentiality, login
from uhd_telephony.security.ratelimit import LoginGuard, LoginLimits
from uhd_telephony.security.sessions import SessionService
from uhd_telephony.security.tokens import TokenService
from uhd_telephony.web import keys


async def services(app: web.Application) -> AsyncIterator[None]:
    db = app[keys.DB]
    settings = app[keys.SETTINGS]
    app[keys.TOKENS] = TokenService(db)
    app[keys.SESSIONS] = SessionService(db, settings.session_max_age_s)
    app[keys.AUDIT] = AuditLog(db)
    limits = LoginLimits(
        max_failures=settings.login_max_failures,
        ip_max_failures=settings.login_ip_max_failures,
        window_s=settings.login_window_s,
        lockout_s=settings.login_lockout_s,
    )
    app[keys.LOGIN_GUARD] = LoginGuard(limits, settings.redis_url, settings.redis_prefix)
    yield
    await app[keys.LOGIN_GUARD].close()


def routes(app: web.Application) -> None:
    login.add_routes(app)  # POST /api/login, POST /api/logout, GET /api/me
    api.add_routes(app)  # the admin API: tokens, the audit log
    confidentiality.add_routes(app)  # the § 203 StGB acknowledgement: /confidentiality, /api/me/confidentiality


CAPABILITY = Capability(name="security", models="uhd_telephony.security.models", routes=routes, services=services)
