"""The callback list's housekeeping in the running service: entries stuck in ``dialing`` are reopened, old ones
expire.

A dial whose process died or was cancelled mid-Originate leaves its entry ``dialing``, and nobody else may dial it
(``CallbackService.claim``): ``release_stale`` reopens it after ``stale_s``, which must be longer than any dial
(the Originate's timeout and its reply margin). An entry nobody returned within ``expire_s`` of the abandon is
cleared as ``expired``. Both are conditional UPDATEs: several instances running this at once do no harm.
"""

from __future__ import annotations

from datetime import timedelta

from uhd_telephony.callbacks.service import CallbackService
from uhd_telephony.runtime.scanner import PeriodicScanner
from uhd_telephony.store.db import Database


class CallbackHousekeeping(PeriodicScanner):
    """Every ``interval_s``: ``release_stale(stale_s)``, then ``expire(expire_s)``."""

    label = "callback housekeeping"

    def __init__(
        self, db: Database, callbacks: CallbackService, *, interval_s: float, stale_s: float, expire_s: float
    ) -> None:
        super().__init__(db, interval_s=interval_s)
        self.callbacks = callbacks
        self.stale = timedelta(seconds=stale_s)
        self.expire = timedelta(seconds=expire_s)
        self.released = 0
        self.expired = 0

    async def scan_once(self) -> int:
        released = await self.callbacks.release_stale(self.stale)
        expired = await self.callbacks.expire(self.expire)
        self.released += released
        self.expired += expired
        return released + expired

    def health(self) -> dict[str, object]:
        return {"last_error": self.last_error, "released": self.released, "expired": self.expired}
