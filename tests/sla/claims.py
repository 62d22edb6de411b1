"""Waiting until two SLA scanners both wait for one timer row's lock (PostgreSQL): the race of their claims."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from uhd_telephony.store.db import Database

WAITING = text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND wait_event_type = 'Lock' AND query ILIKE 'UPDATE sla_timers%'"
)


async def both_waiting_on_the_claim(blocker: Database, timeout_s: float = 10) -> None:
    """Return once two sessions wait on a lock at their ``UPDATE sla_timers`` (the claim)."""
    async with asyncio.timeout(timeout_s):
        while True:  # polled outside the lock's transaction (pg_stat_activity is a snapshot in one)
            async with blocker.engine.connect() as poll:
                if (await poll.execute(WAITING)).scalar_one() == 2:
                    return
            await asyncio.sleep(0.02)
