"""The database side of the simulated PBX during major incidents: what the AGI scripts do for a real Asterisk.

A real call's lookup reads the tenant's open incidents (and stamps the first announcement), and the subscription
AGI records a caller who pressed the key. The simulated PBX has no AGI processes: ``IncidentDesk`` keeps its
``Pbx.incidents`` from the database and writes what its callers did, through the incidents' own functions
(``incidents.phone``), in one owned loop (``PeriodicTask``): every ``interval_s`` and whenever a caller was
announced to or subscribed (``wake``). Work that fails (the database briefly away) stays pending for the next turn.

The simulated PBX answers the caller at once ("subscribed"), before the row is written; a real Asterisk waits for
the AGI. The directory for a subscriber's name and mail is the service's own (``DirectoryIndex``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from uhd_telephony.directory.lookup import DirectoryIndex
from uhd_telephony.incidents import phone
from uhd_telephony.runtime.scanner import PeriodicTask, utc_now
from uhd_telephony.simulator.pbx import Pbx
from uhd_telephony.store.db import Database

log = logging.getLogger(__name__)

DIRECTORY_MAX_AGE_S = 60.0  # a tenant's directory is read again for a subscriber when older than this


@dataclass(frozen=True, slots=True)
class _Subscription:
    tenant: str
    incidents: str  # UHD_INCIDENT as the announcement had it
    number: str
    name: str
    linkedid: str


class IncidentDesk(PeriodicTask):
    """Keeps a simulated PBX's open incidents and records its callers' announcements and subscriptions."""

    label = "simulator incidents"

    def __init__(
        self,
        pbx: Pbx,
        db: Database,
        *,
        tenants: Iterable[str] | None = None,
        interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(interval_s=interval_s)
        self.pbx = pbx
        self.db = db
        self.tenants = sorted(set(tenants) if tenants is not None else {h.tenant for h in pbx.config.hotlines})
        self.clock = clock
        self.directory = DirectoryIndex()
        self._directory_read: dict[str, float] = {}
        self._announced: dict[str, set[int]] = {}  # tenant -> incident ids announced, not stamped yet
        self._stamped: set[int] = set()
        self._subscriptions: list[_Subscription] = []
        self.subscribed = 0  # subscriptions recorded (new or earlier)
        pbx.on_announced.append(self._on_announced)
        pbx.on_subscribed.append(self._on_subscribed)

    # the PBX's hooks (synchronous, on the simulator's clock): note the work, wake the loop ----------------------
    def _on_announced(self, tenant: str, incidents: str) -> None:
        fresh = set(_ids(incidents)) - self._stamped
        if fresh:
            self._announced.setdefault(tenant, set()).update(fresh)
            self.wake()

    def _on_subscribed(self, tenant: str, incidents: str, number: str, name: str, linkedid: str) -> None:
        self._subscriptions.append(_Subscription(tenant, incidents, number, name, linkedid))
        self.wake()

    # the loop ----------------------------------------------------------------------------------------------------
    async def scan_once(self) -> int:
        """Write what the callers did, then read the tenants' open incidents anew; how many rows were written."""
        done = await self._stamp() + await self._subscribe()
        await self.refresh()
        return done

    async def refresh(self) -> None:
        """``Pbx.incidents`` from the database, as the next call's lookup would read them."""
        for tenant in self.tenants:
            open_now = await phone.open_incidents(self.db, tenant)
            self._stamped.update(i.id for i in open_now if i.communicated_at is not None)
            self.pbx.set_incidents(tenant, *phone.channel_variables(open_now))

    async def _stamp(self) -> int:
        stamped = 0
        for tenant in list(self._announced):
            ids = self._announced[tenant]
            stamped += await phone.mark_communicated(self.db, tenant, ids, utc_now())
            self._stamped.update(ids)
            del self._announced[tenant]
        return stamped

    async def _subscribe(self) -> int:
        written = 0
        while self._subscriptions:
            s = self._subscriptions[0]
            await self._directory_of(s.tenant)
            caller = phone.subscriber_of(self.directory.lookup(s.tenant, s.number), s.number, s.name, s.linkedid)
            held = await phone.subscribe(self.db, s.tenant, _ids(s.incidents), caller, utc_now())
            self._subscriptions.pop(0)  # written: a failure above leaves it for the next turn
            self.subscribed += bool(held)
            written += 1
        return written

    async def _directory_of(self, tenant: str) -> None:
        read = self._directory_read.get(tenant)
        if read is None or self.clock() - read > DIRECTORY_MAX_AGE_S:
            await self.directory.reload_tenant(self.db, tenant)
            self._directory_read[tenant] = self.clock()

    @property
    def pending(self) -> int:
        """Announcements and subscriptions not written yet."""
        return len(self._subscriptions) + sum(len(ids) for ids in self._announced.values())


def _ids(incidents: str) -> list[int]:
    return [int(part) for part in incidents.split(",") if part.strip().isdigit()]
