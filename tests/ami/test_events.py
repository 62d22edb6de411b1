"""Typed events: what a caller controls is cleaned where it enters (issue 13 item 6).

No NUL (PostgreSQL refuses the row), no control character or line break (one in a callback's Originate CallerID
header would end it: undialable), and never Asterisk's ``<unknown>`` as a caller's name or number.
"""

from __future__ import annotations

import pytest

from uhd_telephony.ami.events import (
    AgentConnect,
    Newchannel,
    QueueCallerJoin,
    QueueMemberEvent,
    VarSet,
    build_event,
    caller_id,
    clean_text,
)
from uhd_telephony.ami.frames import FrameDecoder

HOSTILE = [
    ("Anna\x00Schmidt", "Anna Schmidt"),
    ("Anna\r\nSchmidt", "Anna Schmidt"),
    ("Anna\nSchmidt", "Anna Schmidt"),
    ("Anna\rSchmidt", "Anna Schmidt"),
    ("Anna\tSchmidt\x1b[31m", "Anna Schmidt [31m"),
    ("Anna\u2028Schmidt\x85", "Anna Schmidt"),
    ("\x00\x00", ""),
    ("Jürgen Müller", "Jürgen Müller"),
    ("  Jürgen Müller ", "  Jürgen Müller "),  # printable text is left as it came
]


@pytest.mark.parametrize(("raw", "clean"), HOSTILE)
def test_clean_text(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


@pytest.mark.parametrize("raw", ["<unknown>", "<Unknown>", "unknown", "", "\x00<unknown>\r\n"])
def test_asterisks_placeholder_is_no_caller_id(raw: str) -> None:
    assert caller_id(raw) == ""


@pytest.mark.parametrize(("raw", "clean"), HOSTILE)
def test_every_caller_controlled_field_of_a_typed_event_is_clean(raw: str, clean: str) -> None:
    channel = {"Channel": "PJSIP/trunk-1", "Uniqueid": "1.1", "CallerIDName": raw, "CallerIDNum": f"0231{raw}"}
    variables = f"UHD_USER_NAME={raw}\nUHD_TENANT=klinikum-nord\nOTHER=x\x00y"
    join = build_event({"Event": "QueueCallerJoin", **channel, "ChanVariable": variables, "Queue": "hotline"}, 0.0)
    assert isinstance(join, QueueCallerJoin)
    assert join.caller_name == clean and join.caller_number == clean_text(f"0231{raw}")
    if "\n" not in raw:  # repeated ChanVariable headers are joined with LF: one in a value splits it anyway
        assert join.variables["UHD_USER_NAME"] == clean
    assert join.variables["UHD_TENANT"] == "klinikum-nord"
    assert join.variables["OTHER"] == "x\x00y"  # not ours: as Asterisk sent it

    agent = build_event({"Event": "AgentConnect", **channel, "MemberName": raw, "Queue": "hotline"}, 0.0)
    assert isinstance(agent, AgentConnect)
    assert (agent.caller_name, agent.member_name) == (clean, clean)

    member = build_event({"Event": "QueueMemberStatus", "MemberName": raw, "Interface": "PJSIP/101"}, 0.0)
    assert isinstance(member, QueueMemberEvent) and member.member_name == clean

    varset = build_event({"Event": "VarSet", **channel, "Variable": "UHD_USER_NAME", "Value": raw}, 0.0)
    assert isinstance(varset, VarSet) and varset.value == clean
    other = build_event({"Event": "VarSet", **channel, "Variable": "QUEUESTATUS", "Value": "TIMEOUT"}, 0.0)
    assert isinstance(other, VarSet) and other.value == "TIMEOUT"


def test_unknown_caller_ids_are_empty_in_every_channel_event() -> None:
    for name in ("Newchannel", "NewCallerid", "QueueCallerJoin", "QueueCallerAbandon", "Hangup", "AgentCalled"):
        event = build_event(
            {"Event": name, "Uniqueid": "1.1", "CallerIDNum": "<unknown>", "CallerIDName": "<unknown>"}, 0.0
        )
        assert (event.caller_number, event.caller_name) == ("", ""), name  # type: ignore[union-attr]


def test_a_hostile_frame_on_the_wire_comes_out_clean() -> None:
    # NUL and a bare CR or LF inside a header value travel in one AMI line (only CRLF ends one)
    fields: list[dict[str, str]] = []
    decoder = FrameDecoder(fields.append)
    decoder.feed(
        b"Event: Newchannel\r\nChannel: PJSIP/trunk-1\r\nUniqueid: 1.1\r\nCallerIDNum: 0231\x0098601000\r\n"
        b"CallerIDName: Anna\x00Schmidt\rvon\nStation 3\r\nExten: 990001\r\n\r\n"
    )
    event = build_event(fields[0], 0.0)
    assert isinstance(event, Newchannel)
    assert (event.caller_name, event.caller_number) == ("Anna Schmidt von Station 3", "0231 98601000")


@pytest.mark.parametrize("value", ["9" * 5000, "1e999", "-1e999", "nan"])
def test_a_number_field_out_of_any_range_is_zero(value: str) -> None:
    event = build_event({"Event": "Hangup", "Uniqueid": "1.1", "Cause": value}, 0.0)
    assert event.cause == 0  # type: ignore[union-attr]
