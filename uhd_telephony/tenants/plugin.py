"""Tenants and their hotline numbers: the table, the admin API, the service the call tracker resolves with."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from uhd_telephony.runtime.plugin import Capability
from uhd_telephony.tenants import api
from uhd_telephony.tenants.service import TenantService
from uhd_telephony.web import keys


async def services(app: web.Application) -> AsyncIterator[None]:
    app[keys.TENANTS] = TenantService(app[keys.DB])
    yield


CAPABILITY = Capability(name="tenants", models="uhd_telephony.tenants.models", routes=api.add_routes, services=services)
