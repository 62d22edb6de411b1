"""The follow-up work of calls, derived again from the stored call records: what survives a database outage.

The live path (``screenpop.compose``) opens a call's ticket when it is answered and queues its callback entry when
it ends. With the database away at that moment the call record still arrives (the store writer keeps and retries
it), but the ticket or the entry would be lost. This scanner looks at the calls that ended within ``window_s`` and
makes sure that

* every answered conversation has its ticket (``TicketService.open_for_call``: one per Linkedid, database-enforced,
  for the agent's account as the live path finds it); a ticket opened here says so in its history, in German for
  the agent — "after the call", and why: the live path could not, or the call was taken over from the queue_log
  afterwards (``CallRecord.backfilled``);
* every unanswered call the callback rules want an entry for has one (``CallbackService.on_call_ended``: the rule
  lives there; unique per call_id), and an open entry of a caller who called again since is cleared
  (``CallbackService.on_call_offered``, the live path's rule, fed with the later stored call).

Idempotent, so it races neither the live path nor another instance into duplicates: the database's uniqueness
decides. It runs every ``interval_s``; ``wake()`` (the composer calls it when work failed) makes it run at once and
then every ``retry_s`` until a scan succeeds with the store writer healthy — right after the database is back and
the records written meanwhile are in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.callbacks.models import Callback, Status
from uhd_telephony.callbacks.service import ENTRY_OUTCOMES, same_caller
from uhd_telephony.calls.records import CallRecord
from uhd_telephony.calls.repository import CallRepository, calls, from_row
from uhd_telephony.runtime.scanner import PeriodicScanner, utc_now
from uhd_telephony.screenpop.compose import ScreenPop
from uhd_telephony.screenpop.ports import Callbacks
from uhd_telephony.store.db import Database, is_unavailable
from uhd_telephony.store.models import table_of
from uhd_telephony.tickets import history as hist
from uhd_telephony.tickets.history import SYSTEM, Action, Change
from uhd_telephony.tickets.models import Ticket

log = logging.getLogger(__name__)

tickets = table_of(Ticket)
callbacks = table_of(Callback)

# the history note of a ticket opened here (the agent reads it in the ticket view)
AFTER_CALL_NOTE = "Ticket nach dem Anruf angelegt (beim Annehmen konnte kein Ticket angelegt werden)"
BACKFILLED_NOTE = "Ticket nach dem Anruf angelegt (Anruf nachträglich aus dem queue_log übernommen)"
# a call is in the window by its end; its entry is at most this much older (index on entered_at, no new one)
MAX_CALL_S = 12 * 3600
REMEMBER_FAILED = 10_000  # calls whose follow-up failed for their data: logged once, not retried every scan


class FollowUpScanner(PeriodicScanner):
    """Tickets and callback entries for the stored calls of the last ``window_s`` that lack them."""

    label = "follow-up catch-up"

    def __init__(
        self,
        db: Database,
        composer: ScreenPop,
        *,
        interval_s: float = 60.0,
        retry_s: float = 2.0,
        window_s: float = 24 * 3600.0,
        store_healthy: Callable[[], bool] | None = None,
        clock: Callable[[], datetime] = utc_now,
        batch_size: int = 100,
    ) -> None:
        """``store_healthy``: whether the call writer's last write succeeded (records written in an outage are
        in); until it is, the scan is repeated every ``retry_s``."""
        super().__init__(db, interval_s=interval_s, retry_s=retry_s, clock=clock, batch_size=batch_size)
        self.composer = composer
        self.callbacks: Callbacks = composer.callbacks
        self.window_s = window_s
        self.store_healthy = store_healthy
        self.repository = CallRepository(db)
        self.tickets_opened = 0
        self.callbacks_queued = 0
        self.callbacks_cleared = 0
        self._behind = False  # something failed since the last complete scan: scan again soon
        self._failed: dict[str, str] = {}  # call_id -> why (errors about the call's data, not the database)

    def wake(self) -> None:
        self._behind = True
        super().wake()

    def next_delay(self, failed: bool) -> float:
        return self.retry_s if failed or self._behind else self.interval_s

    def health(self) -> dict[str, Any]:
        return {
            "last_error": self.last_error,
            "tickets_opened": self.tickets_opened,
            "callbacks_queued": self.callbacks_queued,
            "callbacks_cleared": self.callbacks_cleared,
            "calls_failed": len(self._failed),
        }

    def closing_summary(self) -> str | None:
        if not (self.tickets_opened or self.callbacks_queued or self.callbacks_cleared):
            return None
        return (
            f"{self.label}: {self.tickets_opened} tickets opened, {self.callbacks_queued} callback entries queued,"
            f" {self.callbacks_cleared} cleared after the calls"
        )

    async def scan_once(self) -> int:
        # the writer's backlog of an outage lands after the database is back: only a scan that starts with the
        # store writing again has seen those records
        complete = self.store_healthy is None or self.store_healthy()
        since = self.clock() - timedelta(seconds=self.window_s)
        try:
            done = await self._tickets(since) + await self._callbacks(since) + await self._clears(since)
        except BaseException:
            self._behind = True
            raise
        self._behind = not complete
        return done

    # ------------------------------------------------------------------ tickets
    async def _tickets(self, since: datetime) -> int:
        linkedid = func.coalesce(func.nullif(calls.c.linkedid, ""), func.nullif(calls.c.uniqueid, ""), calls.c.call_id)
        wanted = and_(
            calls.c.answered_at.is_not(None),
            ~exists().where(tickets.c.call_linkedid == linkedid),
        )
        opened = 0
        for row in await self._candidates(since, wanted):
            call = from_row(row)
            note = BACKFILLED_NOTE if call.backfilled else AFTER_CALL_NOTE
            result = await self._each(call, self.composer.open_ticket(call, then=_note(note)))
            if result is not None and result.created:
                opened += 1
                log.warning("ticket %s opened after the call for call %s (%s)", result.ticket.number, call.call_id,
                            "backfilled" if call.backfilled else "missed by the live path")  # fmt: skip
        self.tickets_opened += opened
        return opened

    # ------------------------------------------------------------------ callbacks
    async def _callbacks(self, since: datetime) -> int:
        wanted = and_(
            calls.c.answered_at.is_(None),
            calls.c.outcome.in_([str(o) for o in ENTRY_OUTCOMES]),
            ~exists().where(callbacks.c.call_id == calls.c.call_id),
        )
        queued = 0
        for row in await self._candidates(since, wanted):
            call = from_row(row)
            # the callback rules decide (most abandons of unknown callers get none, and stay candidates)
            if await self._each(call, self.composer.callback_for(call)) is not None:
                queued += 1
                log.warning("callback entry queued after the call for call %s", call.call_id)
        self.callbacks_queued += queued
        return queued

    async def _clears(self, since: datetime) -> int:
        """Open entries of callers who called again since (the live clear may have been lost too)."""
        async with self.db.engine.connect() as conn:
            entries = (
                await conn.execute(
                    select(callbacks.c.tenant, callbacks.c.call_id, callbacks.c.caller_number, callbacks.c.abandoned_at)
                    .where(callbacks.c.status == Status.OPEN.value, callbacks.c.abandoned_at >= since)
                    .order_by(callbacks.c.abandoned_at)
                )
            ).all()
            if not entries:
                return 0
            later = (
                await conn.execute(
                    select(calls.c.call_id, calls.c.tenant, calls.c.caller_number, calls.c.entered_at)
                    .where(
                        calls.c.entered_at >= entries[0].abandoned_at,
                        calls.c.tenant.in_({e.tenant for e in entries}),
                    )
                    .order_by(calls.c.entered_at.desc())
                )
            ).all()
        offered: dict[str, Any] = {}  # the latest later call of each caller: it clears every entry before it
        for entry in entries:
            for call in later:
                if (
                    call.tenant == entry.tenant
                    and call.entered_at >= entry.abandoned_at
                    and call.call_id != entry.call_id
                    and same_caller(call.caller_number, entry.caller_number)
                ):
                    offered.setdefault(call.call_id, call)
                    break
        cleared = 0
        for call_id in offered:
            record = await self.repository.get(call_id)
            if record is not None:
                cleared += len(await self.callbacks.on_call_offered(record))
        if cleared:
            log.warning("%d callback entries cleared after the calls: their callers had called again", cleared)
        self.callbacks_cleared += cleared
        return cleared

    # ------------------------------------------------------------------ shared
    async def _candidates(self, since: datetime, wanted: Any) -> list[Any]:
        """The calls that ended since ``since`` and match ``wanted``, oldest end first, a batch at a time."""
        window = and_(
            calls.c.ended_at >= since,
            # ix_calls_entered_at bounds the scan; a call is never longer than MAX_CALL_S
            calls.c.entered_at >= since - timedelta(seconds=MAX_CALL_S),
            wanted,
        )
        rows: list[Any] = []
        cursor: tuple[datetime, int] | None = None
        async with self.db.engine.connect() as conn:
            while True:
                stmt = select(calls).where(window)
                if cursor is not None:
                    stmt = stmt.where(
                        or_(calls.c.ended_at > cursor[0], and_(calls.c.ended_at == cursor[0], calls.c.id > cursor[1]))
                    )
                batch = (
                    (await conn.execute(stmt.order_by(calls.c.ended_at, calls.c.id).limit(self.batch_size)))
                    .mappings()
                    .all()
                )
                rows.extend(row for row in batch if row["call_id"] not in self._failed)
                if len(batch) < self.batch_size:
                    return rows
                cursor = (batch[-1]["ended_at"], batch[-1]["id"])

    async def _each(self, call: CallRecord, work: Any) -> Any:
        """One call's follow-up: a database outage ends the scan (retried soon); a failure of this call's own is
        logged once and the call left alone, so it cannot stop the others."""
        try:
            return await work
        except Exception as exc:
            if is_unavailable(exc):
                raise
            if len(self._failed) < REMEMBER_FAILED:
                self._failed[call.call_id] = repr(exc)
            log.exception("follow-up of call %s failed; not retried until restart", call.call_id)
            return None


def _note(text: str) -> Any:
    """A history row (by the system) written in the new ticket's transaction."""

    async def then(conn: AsyncConnection, ticket_id: int, now: datetime) -> None:
        await hist.append(conn, ticket_id, now, SYSTEM, [Change(Action.COMMENT, note=text)])

    return then
