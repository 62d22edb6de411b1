"""A caller name with a NUL or a line break, from the AMI frame to the callback entry and its Originate (issue 13
item 6), on SQLite and PostgreSQL: PostgreSQL refused a NUL (the entry was lost), a line break made the entry
undialable forever (the Originate's CallerID header broke: 502 on every try).
"""

from __future__ import annotations

import pytest

from tests.support.helpers import trace_bytes
from uhd_telephony.ami.events import caller_id
from uhd_telephony.callbacks.originate import originate_action
from uhd_telephony.callbacks.service import CallbackService
from uhd_telephony.calls.records import Outcome
from uhd_telephony.calls.replay import ReplayResult, replay_bytes
from uhd_telephony.calls.repository import CallRepository
from uhd_telephony.calls.tracker import CallTracker
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.requester import requester_of

# the real capture of an abandoned call: "Erika Mustermann" <+4930123456789> hangs up after 4 s in the queue
TRACE = "b_abandoned"
NAME = b"Erika Mustermann"
NUMBER = "+4930123456789"


def replay(data: bytes) -> ReplayResult:
    return replay_bytes(data, CallTracker(short_abandon_s=0))  # 4 s in the queue: an abandon, not a short one


@pytest.mark.parametrize(
    "hostile",
    [b"Anna\x00Schmidt", b"Anna\nSchmidt", b"Anna\rSchmidt", b"Anna\x00\r\nSchmidt", b"Anna\tSchmidt\x00"],
    ids=["nul", "lf", "cr", "nul-crlf", "tab-nul"],
)
async def test_a_hostile_caller_name_reaches_the_store_and_the_callback_list_clean(
    db: Database, callbacks: CallbackService, hostile: bytes
) -> None:
    data = trace_bytes(TRACE)
    assert NAME in data
    (call,) = replay(data.replace(NAME, hostile)).records
    assert call.outcome == Outcome.ABANDONED
    # a CRLF ends the header line: what follows is no header and the name is what came before it
    expected = "Anna" if b"\r\n" in hostile else "Anna Schmidt"
    assert (call.caller_name, call.caller_number) == (expected, NUMBER)

    assert await CallRepository(db).upsert_many([call]) == 1
    stored = await CallRepository(db).get(call.call_id)
    assert stored is not None and stored.caller_name == expected

    entry = await callbacks.on_call_ended(call, user_id=4711)  # an identified caller: the entry is queued
    assert entry is not None
    assert (await callbacks.get(entry.tenant, entry.id)).caller_name == expected
    action = originate_action(
        channel="PJSIP/101", context="callbacks", exten=NUMBER, caller_name=entry.caller_name,
        callback_id=entry.id, tenant=entry.tenant, timeout_s=30,
    )  # fmt: skip
    assert action["CallerID"] == f'"{expected}" <{NUMBER}>'
    assert requester_of(call, None).name == expected


async def test_an_unknown_caller_is_stored_without_a_name(db: Database, callbacks: CallbackService) -> None:
    data = trace_bytes(TRACE).replace(b"CallerIDName: " + NAME, b"CallerIDName: <unknown>")
    (call,) = replay(data).records
    assert (call.caller_name, call.caller_number) == ("", NUMBER)
    entry = await callbacks.on_call_ended(call, user_id=4711)
    assert entry is not None and entry.caller_name == ""
    who = requester_of(call, None)
    assert (who.name, who.number) == ("", NUMBER)  # the pages show the number, or "Unbekannter Anrufer"


async def test_a_record_from_elsewhere_is_cleaned_where_the_entry_is_stored(
    db: Database, callbacks: CallbackService, make_call: object
) -> None:
    # a record that did not come through the typed events (a replay of an old capture, a restored row)
    call = make_call(1, caller_name="Anna\x00Schmidt\r\n", number="+492319860572")  # type: ignore[operator]
    entry = await callbacks.on_call_ended(call)
    assert entry is not None and entry.caller_name == "Anna Schmidt"
    unknown = make_call(2, caller_name="<unknown>", number="+492319860573")  # type: ignore[operator]
    entry = await callbacks.on_call_ended(unknown)
    assert entry is not None and entry.caller_name == "" and caller_id("<unknown>") == ""


@pytest.mark.parametrize("name", ["Anna\r\nSchmidt", "Anna\nAction: Hangup", 'Anna "\x00" <Schmidt>'])
def test_the_originates_caller_id_is_one_line_whatever_the_entry_holds(name: str) -> None:
    action = originate_action(
        channel="PJSIP/101", context="callbacks", exten=NUMBER, caller_name=name, callback_id=1,
        tenant="klinikum-nord", timeout_s=30,
    )  # fmt: skip
    caller_id_header = action["CallerID"]
    assert caller_id_header.isprintable() and caller_id_header.endswith(f" <{NUMBER}>")
    assert caller_id_header.count('"') == 2
