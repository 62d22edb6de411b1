"""Staff accounts: their table, the admin API, the account service the login and the pops use."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from uhd_telephony.accounts import api
from uhd_telephony.accounts.hashing import PasswordHasher
from uhd_telephony.accounts.service import AccountService
from uhd_telephony.runtime.plugin import Capability
from uhd_telephony.web import keys


async def services(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    # password hashing in a pool of its own, owned here: shut down (after the web server stopped) with the app
    hasher = PasswordHasher(
        settings.password_hash_workers, settings.password_hash_queue, nice=settings.password_hash_nice
    )
    app[keys.ACCOUNTS] = AccountService(app[keys.DB], hasher)
    try:
        yield
    finally:
        await hasher.close()


CAPABILITY = Capability(
    name="accounts", models="uhd_telephony.accounts.models", routes=api.add_routes, services=services
)
