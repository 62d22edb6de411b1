"""The matcher: decides and stores, for each unanswered stay, whether it was lost and whether the caller was reached
back (``rules``); only the process holding the tracker lease runs it (a plugin worker).

Each scan

1. classifies the stays that ended unanswered and were not looked at (``calls.reach IS NULL``, entered within
   ``lookback_s``): ``excluded``, ``anonymous`` or ``open``;
2. looks for a reach of every ``open`` stay whose window had not passed before the previous complete scan (after a
   start: every one within ``lookback_s``, so a downtime, an AMI drop or a database outage is caught up from the
   store), among the tenant's answered stays and reached callback entries, and stores the earliest.

Every write is a conditional UPDATE (``WHERE reach IS NULL`` / ``= 'open'``): scans that overlap, a second process, a
restart half-way do no harm, and a stay once decided keeps its decision. The work is read through the partial index
``ix_calls_reach_todo`` (unanswered stays not yet looked at or not reached), a small part of the calls.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.callbacks.models import Callback
from uhd_telephony.calls.models import Call
from uhd_telephony.calls.records import Outcome
from uhd_telephony.reachback.rules import Contact, Reach, Stay, caller_key, classify, first_reach
from uhd_telephony.runtime.scanner import PeriodicScanner, utc_now
from uhd_telephony.sla.calendar import Calendar, add_business_time
from uhd_telephony.sla.policy import load_calendars
from uhd_telephony.store.db import Database
from uhd_telephony.store.models import table_of
from uhd_telephony.tenants.contract import DEFAULT_RULES, KpiRules, Schedule, berlin_day, rules_at, schedules

log = logging.getLogger(__name__)

calls = table_of(Call)
callbacks = table_of(Callback)
MAX_CALL_S = 12 * 3600  # a stay is never longer: its answer lies at most this long after its entry
# a stay written late (the store writer's retries in a database outage) may still reach an open stay whose window
# passed a little before the previous scan: look that much further back
SETTLE_S = 3600.0


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _outcome(value: str) -> Outcome:
    try:
        return Outcome(value)
    except ValueError:
        return Outcome.UNKNOWN


class ReachbackMatcher(PeriodicScanner):
    """Classifies unanswered stays and records their reach (module docstring)."""

    label = "reach-back matcher"

    def __init__(
        self,
        db: Database,
        *,
        interval_s: float = 30.0,
        lookback_s: float = 8 * 86400.0,
        clock: Callable[[], datetime] = utc_now,
        batch_size: int = 500,
        before_scan: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        super().__init__(db, interval_s=interval_s, clock=clock, batch_size=batch_size)
        self.lookback = timedelta(seconds=lookback_s)
        self.before_scan = before_scan  # the recorder's callback answers it could not store yet
        self.classified = 0
        self.reached = 0
        self._settled_before: datetime | None = None  # windows that passed before this were looked at completely

    def health(self) -> dict[str, Any]:
        return {"last_error": self.last_error, "classified": self.classified, "reached": self.reached}

    def closing_summary(self) -> str | None:
        if not (self.classified or self.reached):
            return None
        return f"{self.label}: {self.classified} unanswered stays classified, {self.reached} reached back"

    async def scan_once(self) -> int:
        started = self.clock()
        done = 0
        if self.before_scan is not None:
            done += await self.before_scan()
        calendars = await load_calendars(self.db)
        contracts = await schedules(self.db)  # every tenant's contract rows: one read per scan
        since = started - self.lookback
        done += await self._classify(since, calendars, contracts)
        done += await self._match(since, started, calendars, contracts)
        self._settled_before = started - timedelta(seconds=SETTLE_S)
        return done

    @staticmethod
    def _rules(contracts: dict[str, Schedule], tenant: str, entered: datetime) -> KpiRules:
        """The tenant's contract in force on the Berlin day the stay entered its queue."""
        schedule = contracts.get(tenant)
        return rules_at(schedule, berlin_day(entered)) if schedule else DEFAULT_RULES

    # ------------------------------------------------------------------ 1. classify
    async def _classify(self, since: datetime, calendars: dict[str, Calendar], contracts: dict[str, Schedule]) -> int:
        earlier = calls.alias("earlier")
        transfer_in = exists().where(
            earlier.c.linkedid == calls.c.linkedid,
            earlier.c.outcome == Outcome.TRANSFERRED.value,
            earlier.c.entered_at < calls.c.entered_at,
            earlier.c.id != calls.c.id,
        )
        total = 0
        while True:
            stmt = (
                select(
                    calls.c.id,
                    calls.c.tenant,
                    calls.c.queue,
                    calls.c.outcome,
                    calls.c.entered_at,
                    calls.c.wait_s,
                    calls.c.caller_number,
                    transfer_in.label("transfer_in"),
                )
                .where(
                    calls.c.answered_at.is_(None),
                    calls.c.outcome.is_not(None),
                    calls.c.reach.is_(None),
                    calls.c.entered_at >= since,
                )
                .order_by(calls.c.entered_at, calls.c.id)
                .limit(self.batch_size)
            )
            async with self.db.engine.begin() as conn:
                rows = (await conn.execute(stmt)).all()
                decided = []
                for row in rows:
                    entered = _utc(row.entered_at)
                    stay = Stay(row.queue, _outcome(row.outcome), entered, row.wait_s, row.caller_number or "",
                                bool(row.transfer_in))  # fmt: skip
                    rules = self._rules(contracts, row.tenant, entered)
                    decided.append({"row_id": row.id, "reach": classify(stay, rules, calendars.get(row.tenant)).value})
                if decided:
                    await conn.execute(
                        update(calls)
                        .where(calls.c.id == bindparam("row_id"), calls.c.reach.is_(None))
                        .values(reach=bindparam("reach")),
                        decided,
                    )
            total += len(rows)
            if len(rows) < self.batch_size:
                break
        self.classified += total
        return total

    # ------------------------------------------------------------------ 2. match
    async def _match(
        self,
        since: datetime,
        now: datetime,
        calendars: dict[str, Calendar],
        contracts: dict[str, Schedule],
    ) -> int:
        async with self.db.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(calls.c.id, calls.c.tenant, calls.c.caller_number, calls.c.entered_at, calls.c.ended_at)
                    .where(
                        calls.c.answered_at.is_(None),
                        calls.c.outcome.is_not(None),
                        calls.c.reach == Reach.OPEN.value,
                        calls.c.entered_at >= since,
                    )
                    .order_by(calls.c.entered_at, calls.c.id)
                )
            ).all()
            # tenant -> [(row id, caller key, ended, window end, window seconds)]
            todo: dict[str, list[tuple[int, str, datetime, datetime, float]]] = defaultdict(list)
            for row in rows:
                key = caller_key(row.caller_number)
                if key is None:  # a number changed since (erased by a person's request): nothing to match
                    continue
                ended = _utc(row.ended_at or row.entered_at)
                rules = self._rules(contracts, row.tenant, _utc(row.entered_at))
                window_s = rules.callback_window_s
                calendar = calendars.get(row.tenant)
                window = timedelta(seconds=window_s)
                ends = ended + window if calendar is None else add_business_time(calendar, ended, window)
                if self._settled_before is not None and ends < self._settled_before:
                    continue  # looked at completely by an earlier scan
                todo[row.tenant].append((row.id, key, ended, ends, window_s))
            found: list[dict[str, Any]] = []
            for tenant, stays in todo.items():
                contacts = await self._contacts(conn, tenant, stays, now)
                calendar = calendars.get(tenant)
                for row_id, key, ended, _ends, window_s in stays:
                    reach = first_reach(ended, key, contacts, window_s, calendar)
                    if reach is not None:
                        contact, seconds = reach
                        found.append({"row_id": row_id, "reach": contact.by.value, "at": contact.at, "s": seconds})
        if not found:
            return 0
        async with self.db.engine.begin() as conn:
            result = await conn.execute(
                update(calls)
                .where(calls.c.id == bindparam("row_id"), calls.c.reach == Reach.OPEN.value)
                .values(reach=bindparam("reach"), reached_at=bindparam("at"), reach_s=bindparam("s")),
                found,
            )
        count = max(int(result.rowcount or 0), 0)
        self.reached += count
        log.info("%d lost stays reached back", count)
        return count

    async def _contacts(
        self,
        conn: AsyncConnection,
        tenant: str,
        stays: list[tuple[int, str, datetime, datetime, float]],
        now: datetime,
    ) -> list[Contact]:
        """The tenant's answered stays and reached callbacks between the first stay's end and the last window's
        end, with the caller keys the stays look for."""
        first = min(s[2] for s in stays)
        last = min(max(s[3] for s in stays), now) + timedelta(days=7)  # a window ends in business time: bounded
        keys = {s[1] for s in stays}
        contacts: list[Contact] = []
        answered = await conn.execute(
            select(calls.c.caller_number, calls.c.answered_at).where(
                calls.c.tenant == tenant,
                calls.c.entered_at >= first - timedelta(seconds=MAX_CALL_S),
                calls.c.entered_at <= last,
                calls.c.answered_at > first,
            )
        )
        for number, at in answered:
            key = caller_key(number)
            if key in keys:
                contacts.append(Contact(key, _utc(at), Reach.CALL_AGAIN))
        reached = await conn.execute(
            select(callbacks.c.caller_number, callbacks.c.reached_at).where(
                callbacks.c.tenant == tenant,
                callbacks.c.reached_at.is_not(None),
                callbacks.c.reached_at > first,
                callbacks.c.abandoned_at >= first - self.lookback,  # the entry exists before its callback
            )
        )
        for number, at in reached:
            key = caller_key(number)
            if key in keys:
                contacts.append(Contact(key, _utc(at), Reach.CALLBACK))
        return contacts
