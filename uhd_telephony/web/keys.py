"""Typed application state: what the web handlers reach through ``request.app[...]``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from uhd_telephony.accounts.service import AccountService
    from uhd_telephony.ami.client import AmiClient
    from uhd_telephony.audit.log import AuditLog
    from uhd_telephony.callbacks.service import CallbackService
    from uhd_telephony.directory.lookup import DirectoryIndex
    from uhd_telephony.directory.repository import DirectoryRepository
    from uhd_telephony.incidents.service import IncidentService
    from uhd_telephony.metrics.service import MetricsService
    from uhd_telephony.screenpop.fanout import Fanout
    from uhd_telephony.screenpop.hub import PopHub
    from uhd_telephony.security.ratelimit import LoginGuard
    from uhd_telephony.security.sessions import SessionService
    from uhd_telephony.security.tokens import TokenService
    from uhd_telephony.settings import Settings
    from uhd_telephony.store.db import Database
    from uhd_telephony.tenants.service import TenantService
    from uhd_telephony.tickets.service import TicketService

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
DB: web.AppKey[Database] = web.AppKey("db")
ACCOUNTS: web.AppKey[AccountService] = web.AppKey("accounts")
TICKETS: web.AppKey[TicketService] = web.AppKey("tickets")
CALLBACKS: web.AppKey[CallbackService] = web.AppKey("callbacks")
DIRECTORY: web.AppKey[DirectoryIndex] = web.AppKey("directory")
DIRECTORY_REPO: web.AppKey[DirectoryRepository] = web.AppKey("directory_repo")
HUB: web.AppKey[PopHub] = web.AppKey("hub")
FANOUT: web.AppKey[Fanout] = web.AppKey("fanout")
AMI: web.AppKey[Callable[[], AmiClient | None]] = web.AppKey("ami")
HEALTH: web.AppKey[Any] = web.AppKey("health")
# the live metrics behind /metrics (None: the app runs without a call service, /metrics is 404)
METRICS: web.AppKey[MetricsService | None] = web.AppKey("metrics")
# API tokens, the audit log, the login lockout, the tenants table
TOKENS: web.AppKey[TokenService] = web.AppKey("tokens")
AUDIT: web.AppKey[AuditLog] = web.AppKey("audit")
LOGIN_GUARD: web.AppKey[LoginGuard] = web.AppKey("login_guard")
# the server-side record of each login (web.auth checks the cookie's session id against it on every request)
SESSIONS: web.AppKey[SessionService] = web.AppKey("sessions")
TENANTS: web.AppKey[TenantService] = web.AppKey("tenants")
# major incidents (incidents.service)
INCIDENTS: web.AppKey[IncidentService] = web.AppKey("incidents")
# optional parts this server runs, named in GET /api/me ("demo": the embedded demo's softphone)
FEATURES: web.AppKey[frozenset[str]] = web.AppKey("features")
