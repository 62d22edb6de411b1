"""Typed events: what a caller controls is cleaned where it enters (issue 13 item 6).

No NUL (PostgreSQL refuses the row), no control character or line break (one in a callback's Originate CallerID
header would end it: undialable), and never Asterisk's ``<unknown>`` as a caller's name or number.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from uhd_telephony.ami.events import (
    LAYOUTS,
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
from uhd_telephony.ami.headers import Frame, parse_fields
from uhd_telephony.simulator.render import render_calls
from uhd_telephony.simulator.scenario import Scenario

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


# --- reading a frame the fast way gives what reading every header gives (issue 17 item 5) ---------------------------

TRACES = Path(__file__).parent.parent / "data" / "ami-traces"


def _frames(data: bytes) -> list[Frame]:
    frames: list[Frame] = []
    FrameDecoder(frames.append).feed(data)  # no filter: every event frame
    return frames


def _streams() -> list[tuple[str, bytes]]:
    streams = [(path.name, path.read_bytes()) for path in sorted(TRACES.glob("*.ami"))]
    scenario = Scenario(rate_per_hour=600, agents=4, tenants=2, transfer_share=0.2, ring_no_answer_share=0.2)
    streams.append(("simulator", render_calls(80, seed=5, scenario=scenario).data))
    streams.append(("simulator latin-1", render_calls(40, seed=6, scenario=scenario, latin1=True).data))
    streams.append(("simulator without lookup", render_calls(40, seed=7, scenario=Scenario(agi_lookup=False)).data))
    return streams


@pytest.mark.parametrize(("name", "data"), _streams(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_typed_event_of_a_frame_is_what_its_every_header_gives(name: str, data: bytes) -> None:
    built = 0
    for frame in _frames(data):
        every = parse_fields(frame.text)
        assert frame == every and dict(frame) == every
        assert all(frame.get(key) == value for key, value in every.items())
        fast, plain = build_event(frame, 42.0), build_event(every, 42.0)
        assert fast == plain, frame
        built += fast is not None
    assert built > 10


@pytest.mark.parametrize(("name", "data"), _streams(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_frame_asterisk_lays_out_is_read_in_one_match(name: str, data: bytes) -> None:
    matched = [LAYOUTS[frame.name].matches(frame) for frame in _frames(data) if frame.name in LAYOUTS]
    assert matched and all(matched)


def _variants(text: str) -> list[str]:
    """The same frame laid out otherwise: each one read header by header, as the plain dict of it is."""
    lines = text.strip("\r\n").split("\r\n")
    out = [
        "\r\n".join(line for line in lines if not line.startswith("Timestamp: ")),  # timestampevents=no
        "\r\n".join([lines[0], "SystemName: pbx-2", *lines[1:]]),  # asterisk.conf systemname
        "\r\n".join([*lines, lines[-1]]),  # a header given twice: the last one counts
        "\r\n".join([*lines, "Uniqueid: 9.9", "Linkedid: 9.8"]),  # the channel block's headers again, later
        "\r\n".join(line.rstrip(" ") if line.endswith(": ") else line for line in lines),  # "Key:" without its space
        "\r\n".join(line + "\rx\ny" if line.startswith("CallerIDName: ") else line for line in lines),  # bare CR, LF
        "\r\n".join(line.replace(": ", ": a: b", 1) if line.startswith("Queue: ") else line for line in lines),
    ]
    return [variant for variant in out if variant != text.strip("\r\n")]


def test_a_frame_laid_out_otherwise_is_read_header_by_header() -> None:
    seen: set[str] = set()
    for frame in _frames(render_calls(30, seed=8, scenario=Scenario(transfer_share=0.3)).data):
        if frame.name in seen or build_event(frame, 0.0) is None:
            continue
        seen.add(frame.name)
        for variant in _variants(frame.text):
            assert build_event(Frame(variant), 7.0) == build_event(parse_fields(variant), 7.0), variant
    assert {"VarSet", "AgentConnect", "AgentComplete", "QueueMemberStatus", "QueueCallerJoin", "Hangup"} <= seen
