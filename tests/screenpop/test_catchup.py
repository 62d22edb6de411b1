"""The follow-up catch-up over stored calls: a ticket for every answered conversation of the window (once, for
the agent, with a note saying it came after the call), a callback entry wherever the callback rules want one,
and the entries of callers who called again cleared — idempotent, alongside the live path."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text

from tests import dbfixtures
from tests.support.webapp import TENANT_A, Seeded, seed
from uhd_telephony.accounts.service import AccountService
from uhd_telephony.callbacks.service import CallbackService
from uhd_telephony.calls.records import CallRecord, Outcome
from uhd_telephony.calls.repository import CallRepository
from uhd_telephony.directory.lookup import DirectoryIndex
from uhd_telephony.screenpop.catchup import AFTER_CALL_NOTE, BACKFILLED_NOTE, FollowUpScanner
from uhd_telephony.screenpop.compose import ScreenPop
from uhd_telephony.screenpop.fanout import LocalFanout
from uhd_telephony.screenpop.hub import PopHub
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.service import TicketService

aiosqlite_threads_finish = dbfixtures.aiosqlite_threads_finish

NOW = time.time()
MUELLER, DEMIR, BECKER = "0231 98 60 572", "+49 231 986-1140", "0049 231 9861000"  # directory users of tenant A


def call(
    n: int,
    outcome: Outcome | None,
    *,
    number: str = "+4930123456",
    ended_ago: float = 600.0,
    answered: bool | None = None,
    linkedid: str | None = None,
    queue: str = "hotline",
    interface: str = "PJSIP/101",
    **extra: Any,
) -> CallRecord:
    """Call ``n`` ended ``ended_ago`` seconds ago (None outcome: still in progress), answered when its outcome is."""
    ended = NOW - ended_ago
    answered = outcome in (Outcome.ANSWERED, Outcome.TRANSFERRED) if answered is None else answered
    uid = f"{int(NOW)}.{n}"
    return CallRecord(
        call_id=f"{uid}@{queue}",
        linkedid=linkedid or uid,
        uniqueid=uid,
        queue=queue,
        tenant=TENANT_A,
        entered_at=ended - 120,
        caller_number=number,
        caller_name="Anrufer",
        answered_at=ended - 100 if answered else None,
        ended_at=None if outcome is None else ended,
        wait_s=20.0 if answered else 120.0,
        agent=interface if answered else None,
        agent_interface=interface if answered else None,
        outcome=outcome,
        **extra,
    )


@dataclass
class Setup:
    db: Database
    seeded: Seeded
    composer: ScreenPop
    tickets: TicketService
    callbacks: CallbackService
    repo: CallRepository

    def scanner(self, **options: Any) -> FollowUpScanner:
        return FollowUpScanner(self.db, self.composer, window_s=86400, **options)

    async def rows(self, sql: str) -> list[Any]:
        async with self.db.engine.connect() as conn:
            return list((await conn.execute(text(sql))).all())


@pytest.fixture
async def setup(db_url: str) -> AsyncIterator[Setup]:
    seeded = await seed(db_url)
    db = Database(db_url)
    try:
        directory = DirectoryIndex()
        await directory.load(db)
        tickets, callbacks = TicketService(db), CallbackService(db)
        composer = ScreenPop(
            db, accounts=AccountService(db), tickets=tickets, callbacks=callbacks, directory=directory,
            fanout=LocalFanout(PopHub()),
        )  # fmt: skip
        yield Setup(db, seeded, composer, tickets, callbacks, CallRepository(db))
    finally:
        await db.close()


async def test_every_answered_conversation_gets_one_ticket_for_its_agent_saying_it_came_after_the_call(
    setup: Setup,
) -> None:
    lost = call(1, Outcome.ANSWERED, number=MUELLER)  # answered by Anna while the database was away
    # a conversation of two queue calls: transferred from the hotline to the backoffice
    first = call(2, Outcome.TRANSFERRED, linkedid="conv-2", ended_ago=900)
    second = call(3, Outcome.ANSWERED, linkedid="conv-2", queue="backoffice", interface="PJSIP/102", ended_ago=800)
    live = call(4, Outcome.ANSWERED)  # its ticket was opened live
    backfilled = call(5, Outcome.ANSWERED, interface="PJSIP/102", backfilled=True)  # from the queue_log
    old = call(6, Outcome.ANSWERED, ended_ago=2 * 86400)  # outside the window
    talking = call(7, None, answered=True)  # still up: the live path's (it retries while the call is up)
    stranger = call(8, Outcome.ANSWERED, interface="PJSIP/999")  # an agent without an account
    live_ticket = (await setup.composer.open_ticket(live)).ticket
    await setup.repo.upsert_many([lost, first, second, live, backfilled, old, talking, stranger])

    scanner = setup.scanner(batch_size=2)  # pages of two: the scan walks the whole window
    assert await scanner.scan_once() == 4
    assert await scanner.scan_once() == 0  # idempotent
    assert scanner.tickets_opened == 4

    per_conversation = dict(await setup.rows("SELECT call_linkedid, count(*) FROM tickets GROUP BY call_linkedid"))
    assert per_conversation == {c.linkedid: 1 for c in (lost, first, live, backfilled, stranger)}

    async def ticket_of(record: CallRecord) -> tuple[Any, list[dict[str, Any]]]:
        ((ticket_id,),) = await setup.rows(f"SELECT id FROM tickets WHERE call_linkedid = '{record.linkedid}'")
        ticket = await setup.tickets.get(TENANT_A, ticket_id)
        return ticket, await setup.tickets.history(TENANT_A, ticket_id)

    def notes(history: list[dict[str, Any]]) -> list[str]:
        return [h["note"] for h in history if h["action"] == "comment"]

    ticket, history = await ticket_of(lost)
    assert ticket.agent_id == setup.seeded.anna.id and ticket.requester_name == "Dr. Jürgen Müller"
    assert notes(history) == [AFTER_CALL_NOTE]
    ticket, history = await ticket_of(backfilled)
    assert ticket.agent_id == setup.seeded.ben.id and notes(history) == [BACKFILLED_NOTE]
    ticket, _ = await ticket_of(first)
    assert ticket.call_id == first.call_id  # the conversation's first queue call
    ticket, history = await ticket_of(live)
    assert ticket.id == live_ticket.id and notes(history) == []
    ticket, _ = await ticket_of(stranger)
    assert ticket.agent_id is None and ticket.agent_name == "PJSIP/999"


async def test_callback_entries_follow_the_callback_rules_once_and_callers_who_called_again_are_cleared(
    setup: Setup,
) -> None:
    known = call(1, Outcome.ABANDONED, number=MUELLER)
    unknown = call(2, Outcome.ABANDONED, number="+4930777888")  # nobody to call back
    short = call(3, Outcome.SHORT_ABANDON, number=MUELLER)
    requested = call(4, Outcome.TIMEOUT, number="+4930777999", callback_requested=True)
    not_requested = call(5, Outcome.TIMEOUT, number=BECKER)
    called_again = call(6, Outcome.ABANDONED, number=DEMIR, ended_ago=3600)
    again = call(7, Outcome.ANSWERED, number="+492319861140", ended_ago=1200)  # Demir again, answered
    live = call(8, Outcome.ABANDONED, number=BECKER, ended_ago=300)
    live_entry = await setup.composer.callback_for(live)  # queued live, before the database went away
    assert live_entry is not None
    await setup.repo.upsert_many([known, unknown, short, requested, not_requested, called_again, again, live])

    scanner = setup.scanner()
    await scanner.scan_once()
    await scanner.scan_once()
    assert (scanner.callbacks_queued, scanner.callbacks_cleared) == (3, 1)

    entries = {
        call_id: (count, status, reason)
        for call_id, count, status, reason in await setup.rows(
            "SELECT call_id, count(*), min(status), min(cleared_reason) FROM callbacks GROUP BY call_id"
        )
    }
    assert entries == {
        known.call_id: (1, "open", None),
        requested.call_id: (1, "open", None),
        called_again.call_id: (1, "cleared", "caller_called_again"),
        live.call_id: (1, "open", None),
    }
    (muller,) = [e for e in await setup.callbacks.list_open(TENANT_A) if e.call_id == known.call_id]
    assert muller.user_id is not None  # identified by the directory, as the live path does
