"""The callback list on SQLite and PostgreSQL: which calls get an entry, clearing, claiming, tenant isolation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.callbacks.conftest import OTHER_TENANT, TENANT, MakeCall
from uhd_telephony.accounts.service import AccountService, AccountView
from uhd_telephony.callbacks.service import CallbackService, CallbackView, same_caller
from uhd_telephony.calls.records import Outcome
from uhd_telephony.errors import Conflict, InvalidInput, NotFound
from uhd_telephony.store.db import Database

VIEW_KEYS = {
    "id",
    "tenant",
    "call_id",
    "linkedid",
    "caller_number",
    "caller_name",
    "user_id",
    "queue",
    "abandoned_at",
    "wait_s",
    "status",
    "cleared_reason",
    "claimed_by",
    "claimed_at",
    "attempts",
    "last_attempt_at",
    "done_at",
    "note",
    "created_at",
}


async def test_an_identified_callers_abandon_gets_one_entry(callbacks: CallbackService, make_call: MakeCall) -> None:
    call = make_call(1)
    entry = await callbacks.on_call_ended(call)
    assert entry is not None
    assert (entry.tenant, entry.call_id, entry.caller_number, entry.user_id) == (
        TENANT, call.call_id, "+492319860001", 4711,
    )  # fmt: skip
    assert (entry.status, entry.attempts, entry.wait_s) == ("open", 0, 42.0)
    assert entry.abandoned_at == datetime.fromtimestamp(call.ended_at or 0, UTC)
    data = entry.to_dict()
    assert set(data) == VIEW_KEYS and data["abandoned_at"] == "2024-11-27T08:10:42.000Z"
    # the same CallEnded again (a replay, a second instance): the same entry, no second one
    assert await callbacks.on_call_ended(call) == entry
    assert [e.id for e in await callbacks.list_open(TENANT)] == [entry.id]


async def test_only_identified_non_short_abandons_and_requested_callbacks_get_entries(
    callbacks: CallbackService, make_call: MakeCall
) -> None:
    skipped = [
        make_call(1, outcome=Outcome.SHORT_ABANDON),  # below the threshold: a misdial, not a lost caller
        make_call(2, user_id=None),  # unknown caller hung up: nobody to call back
        make_call(3, user_id=""),  # the AGI ran but found nobody
        make_call(4, outcome=Outcome.ANSWERED),
        make_call(5, outcome=Outcome.TIMEOUT),  # timed out without asking for a callback
        make_call(6, number="anonymous"),  # identified, but withheld: nothing to dial
        make_call(7, outcome=Outcome.REFUSED, callback_requested=True),
    ]
    for call in skipped:
        assert await callbacks.on_call_ended(call) is None, call.outcome
    taken = [
        make_call(10, user_id=None, outcome=Outcome.TIMEOUT, callback_requested=True),  # the overflow branch
        make_call(11, user_id=None, outcome=Outcome.CALLBACK, callback_requested=True),
        make_call(12, user_id=None, outcome=Outcome.OVERFLOW, callback_requested=True),
        make_call(13, user_id="u-17"),  # identified by a non-numeric id: kept, without user_id
    ]
    for call in taken:
        assert await callbacks.on_call_ended(call) is not None, call.outcome
    given = await callbacks.on_call_ended(make_call(14, user_id=None), user_id=99)
    assert given is not None and given.user_id == 99
    entries = await callbacks.list_open(TENANT)
    assert [e.call_id for e in entries] == [c.call_id for c in taken] + [given.call_id]
    assert [e.user_id for e in entries] == [None, None, None, None, 99]


async def test_the_caller_calling_again_clears_their_open_entries(
    callbacks: CallbackService, make_call: MakeCall
) -> None:
    mine = await callbacks.on_call_ended(make_call(1, number="+492319860572"))
    other_number = await callbacks.on_call_ended(make_call(2, number="+492319860573"))
    other_tenant = await callbacks.on_call_ended(make_call(3, number="+492319860572", tenant=OTHER_TENANT))
    assert mine and other_number and other_tenant
    # the same phone, written the way the trunk delivers it this time
    again = make_call(4, number="0231 9860572", outcome=None, ended_at=None)
    cleared = await callbacks.on_call_offered(again)
    assert [c.id for c in cleared] == [mine.id]
    assert (cleared[0].status, cleared[0].cleared_reason) == ("cleared", "caller_called_again")
    assert cleared[0].done_at is not None
    assert [e.id for e in await callbacks.list_open(TENANT)] == [other_number.id]
    assert [e.id for e in await callbacks.list_open(OTHER_TENANT)] == [other_tenant.id]
    assert await callbacks.on_call_offered(again) == []


async def test_a_replayed_offer_of_an_earlier_call_clears_nothing(
    callbacks: CallbackService, make_call: MakeCall
) -> None:
    entry = await callbacks.on_call_ended(make_call(5))
    assert entry is not None
    assert await callbacks.on_call_offered(make_call(5)) == []  # the call that created the entry
    assert await callbacks.on_call_offered(make_call(2)) == []  # a call from before the abandon
    assert [e.id for e in await callbacks.list_open(TENANT)] == [entry.id]


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("+492319860572", "02319860572", True),
        ("004923198605 72", "+49 231 9860572", True),
        ("(0231) 98-60-572", "+492319860572", True),
        ("+492319860572", "+492319860573", False),
        ("4711", "4711", True),
        ("4711", "4712", False),
        ("anonymous", "anonymous", False),
    ],
)
def test_same_caller_compares_numbers_not_spellings(a: str, b: str, same: bool) -> None:
    assert same_caller(a, b) is same


async def test_of_concurrent_claims_exactly_one_wins(
    db_url: str, callbacks: CallbackService, agent: AccountView, make_call: MakeCall, db: Database
) -> None:
    entry = await callbacks.on_call_ended(make_call(1))
    assert entry is not None
    other = await AccountService(db).create("bernd", "Stations-Telefon-8", tenants=[TENANT])
    # two service instances (own engines and connections) and a double click of each agent, all at once
    instances = [Database(db_url), Database(db_url)]
    try:
        claims = [
            CallbackService(instance).claim(TENANT, entry.id, who)
            for instance in instances
            for who in (agent.id, other.id, agent.id)
        ]
        results = await asyncio.gather(*claims, return_exceptions=True)
    finally:
        for instance in instances:
            await instance.close()
    winners = [r for r in results if isinstance(r, CallbackView)]
    losers = [r for r in results if isinstance(r, Conflict)]
    assert len(winners) == 1 and len(losers) == len(results) - 1, results
    assert winners[0].status == "dialing" and winners[0].claimed_at is not None
    assert all(e.status_code == 409 and e.details["status"] == "dialing" for e in losers)
    stored = await callbacks.get(TENANT, entry.id)
    assert (stored.status, stored.claimed_by) == ("dialing", winners[0].claimed_by)
    assert await callbacks.list_open(TENANT) == []


async def test_another_tenants_entry_is_not_found(
    callbacks: CallbackService, agent: AccountView, make_call: MakeCall
) -> None:
    entry = await callbacks.on_call_ended(make_call(1, tenant=OTHER_TENANT))
    assert entry is not None
    for attempt in (
        callbacks.get(TENANT, entry.id),
        callbacks.claim(TENANT, entry.id, agent.id),
        callbacks.clear(TENANT, entry.id, "manual", agent.id),
        callbacks.get(TENANT, entry.id + 1000),
    ):
        with pytest.raises(NotFound) as missing:
            await attempt
        assert missing.value.status_code == 404
    assert await callbacks.list_open(TENANT) == []
    assert (await callbacks.get(OTHER_TENANT, entry.id)).status == "open"


async def test_clearing_by_hand(callbacks: CallbackService, agent: AccountView, make_call: MakeCall) -> None:
    first = await callbacks.on_call_ended(make_call(1))
    second = await callbacks.on_call_ended(make_call(2))
    assert first and second
    cleared = await callbacks.clear(TENANT, first.id, "manual", agent.id)
    assert (cleared.status, cleared.cleared_reason, cleared.claimed_by) == ("cleared", "manual", agent.id)
    with pytest.raises(Conflict):
        await callbacks.clear(TENANT, first.id, "manual", agent.id)
    # called back from a desk phone, outside the one-click dial: done, not merely cleared
    done = await callbacks.clear(TENANT, second.id, "called_back", agent.id)
    assert (done.status, done.cleared_reason, done.attempts) == ("done", "called_back", 0)
    third = await callbacks.on_call_ended(make_call(3))
    assert third is not None
    with pytest.raises(InvalidInput):
        await callbacks.clear(TENANT, third.id, "bored", agent.id)
    with pytest.raises(NotFound):
        await callbacks.clear(TENANT, third.id, "manual", agent.id + 1000)
    assert [e.id for e in await callbacks.list_open(TENANT)] == [third.id]


async def test_old_entries_expire_and_stuck_dials_are_reopened(
    db: Database, agent: AccountView, make_call: MakeCall
) -> None:
    now = [datetime(2024, 11, 28, 8, 0, tzinfo=UTC)]
    callbacks = CallbackService(db, clock=lambda: now[0])
    old = await callbacks.on_call_ended(make_call(1))  # abandoned 2024-11-27 08:10
    stuck = await callbacks.on_call_ended(make_call(2))
    fresh = await callbacks.on_call_ended(make_call(3, ended_at=now[0].timestamp() - 60))
    assert old and stuck and fresh
    await callbacks.claim(TENANT, stuck.id, agent.id)
    assert await callbacks.release_stale(timedelta(minutes=5)) == 0
    now[0] += timedelta(minutes=6)
    assert await callbacks.release_stale(timedelta(minutes=5)) == 1
    reopened = await callbacks.get(TENANT, stuck.id)
    assert (reopened.status, reopened.attempts, reopened.claimed_by) == ("open", 1, None)
    assert await callbacks.expire(timedelta(hours=12), tenant=OTHER_TENANT) == 0
    assert await callbacks.expire(timedelta(hours=12)) == 2
    assert (await callbacks.get(TENANT, old.id)).cleared_reason == "expired"
    assert [e.id for e in await callbacks.list_open(TENANT)] == [fresh.id]
