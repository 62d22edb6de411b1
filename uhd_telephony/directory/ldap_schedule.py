"""The service's LDAP syncs: every tenant of ``UHD_LDAP_CONFIG`` synced when its interval has passed.

It runs where the scanners run (the process holding the tracker lease), so one process syncs. When a sync is
due is read from the last one stored (``directory_ldap_syncs.started_at``): a restart does not sync again at
once, and a sync by the command or the admin API counts too. The file is read at every look, so an edited
source needs no restart. A failed sync (the server away, a refused bind, the size guard) is logged, counted in
``/healthz`` and stored as the tenant's last sync; the next try comes an interval later, the other tenants go
on. After a sync the caller lookups of this process use the new directory at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from uhd_telephony.directory.ldap_config import LdapSource, load_sources
from uhd_telephony.directory.ldap_sync import SyncRequest, last_started, sync_ldap
from uhd_telephony.errors import UhdError
from uhd_telephony.runtime.scanner import PeriodicTask, utc_now
from uhd_telephony.store.db import Database

if TYPE_CHECKING:
    from uhd_telephony.directory.lookup import DirectoryIndex

log = logging.getLogger(__name__)

TICK_S = 60.0  # how often it looks whether a sync is due


class LdapSchedule(PeriodicTask):
    """Syncs each configured tenant whose interval has passed since its last sync started."""

    label = "LDAP sync"

    def __init__(
        self,
        db: Database,
        config: str,
        *,
        default_interval_s: float,
        index: DirectoryIndex | None = None,
        tick_s: float = TICK_S,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        super().__init__(interval_s=tick_s)
        self.db = db
        self.config = config
        self.default_interval_s = default_interval_s
        self.index = index
        self.clock = clock
        self.synced = 0
        self.failed = 0

    def health(self) -> dict[str, Any]:
        return {"synced": self.synced, "failed": self.failed, "last_error": self.last_error}

    async def due(self, sources: dict[str, LdapSource]) -> list[str]:
        """The tenants whose sync is due now."""
        started = await last_started(self.db)
        now = self.clock()
        wanted = []
        for tenant, source in sources.items():
            every = source.interval(self.default_interval_s)
            last = started.get(tenant)
            if every > 0 and (last is None or (now - last).total_seconds() >= every):
                wanted.append(tenant)
        return wanted

    async def scan_once(self) -> int:
        sources = load_sources(self.config)  # a broken file: the loop logs it and shows it in last_error
        failures: list[str] = []
        done = 0
        for tenant in await self.due(sources):
            try:
                request = SyncRequest(trigger="schedule", started_at=self.clock())
                await sync_ldap(self.db, tenant, sources[tenant], request)
            except UhdError as exc:
                failures.append(tenant)
                log.error("LDAP sync of %s failed: %s", tenant, exc.message)
                continue
            except Exception:  # the database away: the next look tries again
                failures.append(tenant)
                log.exception("LDAP sync of %s failed", tenant)
                continue
            done += 1
            if self.index is not None:
                await self.index.reload_tenant(self.db, tenant)
        self.synced += done
        self.failed += len(failures)
        if failures:
            raise RuntimeError(f"LDAP sync failed for {', '.join(failures)}")
        return done

    def closing_summary(self) -> str | None:
        return f"LDAP sync stopped: {self.synced} syncs, {self.failed} failed" if self.synced or self.failed else None
