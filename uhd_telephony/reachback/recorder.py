"""The callback answers the tracker reports (``calls.domain.CallbackAnswered``), stored on the callback entry.

``callbacks.reached_at`` is set once, to the earliest answer reported (a duplicate UserEvent, the same answer seen
again by a resync, a replay: one conditional UPDATE, no change). The entry must be the event's tenant's: a
UserEvent naming another tenant's entry (a misconfigured dialplan, a forged event) changes nothing. An answer the
database could not take (an outage) is kept and tried again before the matcher's next scan, so it is not lost with
the event; the matcher is woken to match it at once.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import or_, update

from uhd_telephony.callbacks.models import Callback
from uhd_telephony.calls.domain import CallbackAnswered
from uhd_telephony.store.db import Database
from uhd_telephony.store.models import table_of

log = logging.getLogger(__name__)

callbacks = table_of(Callback)
MAX_PENDING = 10_000  # answers kept for a retry while the database is away


class CallbackRecorder:
    """A bus subscriber: ``await recorder(event)`` stores the answer; ``retry()`` the ones that failed."""

    def __init__(self, db: Database, *, on_recorded: Callable[[], None] | None = None) -> None:
        self.db = db
        self.on_recorded = on_recorded
        self.recorded = 0
        self.ignored = 0
        self.pending: OrderedDict[int, CallbackAnswered] = OrderedDict()

    async def __call__(self, event: CallbackAnswered) -> None:
        try:
            changed = await self.record(event)
        except Exception as exc:  # the database away: keep it for the matcher's next scan
            self.pending[event.callback_id] = event
            if len(self.pending) > MAX_PENDING:
                self.pending.popitem(last=False)
            log.warning("callback %d answered: not stored yet (%r), kept for a retry", event.callback_id, exc)
            return
        if changed and self.on_recorded is not None:
            self.on_recorded()

    async def record(self, event: CallbackAnswered) -> bool:
        """Store the answer on the entry; True when it changed ``reached_at``."""
        at = datetime.fromtimestamp(event.at, UTC)
        async with self.db.engine.begin() as conn:
            result = await conn.execute(
                update(callbacks)
                .where(
                    callbacks.c.id == event.callback_id,
                    callbacks.c.tenant == event.tenant,
                    or_(callbacks.c.reached_at.is_(None), callbacks.c.reached_at > at),
                )
                .values(reached_at=at)
            )
        changed = bool(result.rowcount)
        if changed:
            self.recorded += 1
            how = "seen again after an AMI gap" if event.resynced else "answered"
            log.info("callback %d of tenant %s reached the caller (%s)", event.callback_id, event.tenant, how)
        else:
            self.ignored += 1
        return changed

    async def retry(self) -> int:
        """Store the answers that failed before (the matcher calls this first in each scan); how many."""
        done = 0
        for callback_id, event in list(self.pending.items()):
            await self.record(event)  # raises while the database is still away: the scan fails and comes again
            del self.pending[callback_id]
            done += 1
        return done
