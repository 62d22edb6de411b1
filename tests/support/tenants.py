"""Tenants as rows of the tenants table: the CLI refuses a command naming a tenant that does not exist."""

from __future__ import annotations

from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import current_revision, head_revision, migrate
from uhd_telephony.tenants.service import TenantService


async def add_tenants(url: str, *tenants: str) -> None:
    """Bring the database at ``url`` to the newest revision (if it is not there) and add each tenant it lacks."""
    if await current_revision(url) != head_revision():
        await migrate(url)
    async with Database(url) as db:
        service = TenantService(db)
        known = {t.tenant for t in await service.list_all()}
        for tenant in tenants:
            if tenant not in known:
                await service.add(tenant, name=tenant)
