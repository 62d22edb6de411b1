"""The caller directory as the process runs it: its tables, the in-memory index, imports picked up elsewhere, the
LDAP syncs (the admin API, the schedule)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from uhd_telephony.directory import api
from uhd_telephony.directory.ldap_schedule import LdapSchedule
from uhd_telephony.directory.lookup import DirectoryIndex
from uhd_telephony.directory.repository import DirectoryRepository
from uhd_telephony.runtime.plugin import Capability, Running, Runtime
from uhd_telephony.runtime.scanner import PeriodicScanner
from uhd_telephony.store.db import Database
from uhd_telephony.web import keys

log = logging.getLogger(__name__)


async def services(app: web.Application) -> AsyncIterator[None]:
    db = app[keys.DB]
    app[keys.DIRECTORY_REPO] = DirectoryRepository(db)
    index = DirectoryIndex()
    await index.load(db)
    app[keys.DIRECTORY] = index
    yield


class DirectoryRefresh(PeriodicScanner):
    """Imports run in other processes (``uhd-telephony import-users``): the index picks up what changed.

    It was just loaded at start, so the first look waits one interval; a failed read is logged by the scan loop
    and the old index serves meanwhile."""

    label = "directory refresh"
    scan_at_start = False

    def __init__(self, db: Database, directory: DirectoryIndex, *, interval_s: float) -> None:
        super().__init__(db, interval_s=interval_s)
        self.directory = directory

    async def scan_once(self) -> int:
        changed = await self.directory.refresh(self.db)
        if changed:
            log.info("directory reloaded for %s", ", ".join(changed))
        return len(changed)


def workers(rt: Runtime) -> list[Running]:
    refresh = DirectoryRefresh(rt.db, rt.web[keys.DIRECTORY], interval_s=rt.settings.directory_refresh_s)
    rt.provide("directory_refresh", refresh)
    running = [Running(refresh)]
    if rt.settings.ldap_config is not None:
        schedule = LdapSchedule(
            rt.db,
            rt.settings.ldap_config,
            default_interval_s=rt.settings.ldap_sync_interval_s,
            index=rt.web[keys.DIRECTORY],
        )
        running.append(Running(schedule, "ldap_sync"))
    return running


CAPABILITY = Capability(
    name="directory",
    models="uhd_telephony.directory.models",
    routes=api.add_routes,
    services=services,
    workers=workers,
)
