"""The frame decoder: framing before decoding, fallbacks, skips and limits."""

from __future__ import annotations

import random

import pytest

from uhd_telephony.ami.events import build_event, chan_vars, tracker_filter
from uhd_telephony.ami.frames import MAX_FRAME, SEP, EventFilter, FrameDecoder, FrameStats
from uhd_telephony.ami.headers import Frame, Headers, Layout, parse_fields, run_values

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def decoder(**kw: object) -> tuple[FrameDecoder, list[dict[str, str]], list[str]]:
    events: list[dict[str, str]] = []
    responses: list[str] = []
    return FrameDecoder(events.append, responses.append, **kw), events, responses  # type: ignore[arg-type]


def test_banner_then_login_response_then_event() -> None:
    d, events, responses = decoder()
    d.feed(BANNER + b"Response: Success\r\nActionID: 1\r\nMessage: Authentication accepted\r\n\r\n")
    d.feed(b"Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n")
    assert d.banner == "Asterisk Call Manager/11.0.0"
    assert responses == ["Response: Success\r\nActionID: 1\r\nMessage: Authentication accepted"]
    assert events == [{"Event": "FullyBooted", "Privilege": "system,all", "Status": "Fully Booted"}]


def test_banner_split_across_reads() -> None:
    d, events, _ = decoder()
    for piece in (b"Aster", b"isk Call Manager/11.", b"0.0\r", b"\nEvent: X\r\n\r\n"):
        d.feed(piece)
    assert d.banner == "Asterisk Call Manager/11.0.0" and events == [{"Event": "X"}]


def test_stream_without_banner() -> None:
    d, events, _ = decoder()
    d.feed(b"Event: Hangup\r\nUniqueid: 1.1\r\n\r\n")
    assert d.banner is None and events == [{"Event": "Hangup", "Uniqueid": "1.1"}]


def test_utf8_split_inside_a_character() -> None:
    d, events, _ = decoder()
    data = BANNER + "Event: X\r\nCallerIDName: Jürgen Müller\r\n\r\n".encode()
    cut = data.index("ü".encode()) + 1  # between the two bytes of ü
    d.feed(data[:cut])
    d.feed(data[cut:])
    assert events[0]["CallerIDName"] == "Jürgen Müller"
    assert d.stats.fallback_decoded == 0


def test_latin1_frame_falls_back_to_cp1252() -> None:
    d, events, _ = decoder()
    d.feed(BANNER + "Event: X\r\nCallerIDName: Müller\r\nPausedReason: Rückruf\r\n\r\n".encode("latin-1"))
    assert events[0]["CallerIDName"] == "Müller" and events[0]["PausedReason"] == "Rückruf"
    assert d.stats.fallback_decoded == 1


def test_oversized_frame_is_skipped_whole_across_reads() -> None:
    d, events, _ = decoder()
    big = b"Event: Big\r\nData: " + b"y" * (MAX_FRAME + 10)
    d.feed(BANNER)
    for i in range(0, len(big), 1000):
        d.feed(big[i : i + 1000])
    d.feed(b"\r\nMore: z\r\n\r\nEvent: After\r\n\r\n")
    assert [e["Event"] for e in events] == ["After"]
    assert d.stats.oversized == 1


def test_oversized_frame_in_one_read() -> None:
    d, events, _ = decoder()
    d.feed(BANNER + b"Event: Big\r\nData: " + b"y" * (MAX_FRAME + 10) + b"\r\n\r\nEvent: After\r\n\r\n")
    assert [e["Event"] for e in events] == ["After"] and d.stats.oversized == 1


def test_garbage_is_counted_not_raised() -> None:
    d, events, responses = decoder()
    d.feed(BANNER + b"\x00\x01\x02\xff\r\n\r\nnonsense without colon\r\n\r\n: leading colon\r\n\r\nEvent: Ok\r\n\r\n")
    assert [e["Event"] for e in events] == ["Ok"] and responses == []
    assert d.stats.malformed == 3


def test_empty_last_header_is_kept() -> None:
    # panoramisk strips the frame and loses "PausedReason: " at its end
    fields = parse_fields("Event: QueueMemberPause\r\nQueue: hotline\r\nPausedReason: ")
    assert fields == {"Event": "QueueMemberPause", "Queue": "hotline", "PausedReason": ""}
    assert parse_fields("Event: X\r\nAccountCode:")["AccountCode"] == ""


def test_repeated_chanvariable_headers_are_all_kept() -> None:
    fields = parse_fields("Event: QueueCallerJoin\r\nChanVariable: UHD_TENANT=a\r\nChanVariable: UHD_VIP=1")
    assert chan_vars(fields) == {"UHD_TENANT": "a", "UHD_VIP": "1"}
    single = parse_fields("Event: QueueCallerJoin\r\nChanVariable: UHD_TENANT=a")
    assert chan_vars(single) == {"UHD_TENANT": "a"}
    event = build_event({**fields, "Queue": "hotline", "Uniqueid": "1.1"}, 0.0)
    assert event is not None and event.variables == {"UHD_TENANT": "a", "UHD_VIP": "1"}  # type: ignore[attr-defined]


def test_filter_skips_unread_frames_without_decoding() -> None:
    d, events, _ = decoder(event_filter=tracker_filter())
    d.feed(
        BANNER
        + b"Event: Newexten\r\nApplication: NoOp\r\n\r\n"
        + b"Event: Newexten\r\nApplication: Queue\r\nAppData: hotline\r\n\r\n"
        + b"Event: VarSet\r\nVariable: BRIDGEPEER\r\nValue: x\r\n\r\n"
        + b"Event: VarSet\r\nVariable: QUEUESTATUS\r\nValue: TIMEOUT\r\n\r\n"
        + b"Event: VarSet\r\nVariable: UHD_TENANT\r\nValue: a\r\n\r\n"
        + b"Event: Cdr\r\nUniqueID: 1\r\n\xff\xfe\r\n\r\n"
        + b"Event: QueueCallerJoin\r\nQueue: hotline\r\n\r\n"
    )
    assert [(e["Event"], e.get("Application") or e.get("Variable")) for e in events] == [
        ("Newexten", "Queue"),
        ("VarSet", "QUEUESTATUS"),
        ("VarSet", "UHD_TENANT"),
        ("QueueCallerJoin", None),
    ]
    assert d.stats.skipped == 3 and d.stats.fallback_decoded == 0


def test_list_events_answering_an_action_go_to_responses() -> None:
    d, events, responses = decoder()
    d.feed(BANNER + b"Event: QueueEntry\r\nQueue: hotline\r\nActionID: a-7\r\n\r\n")
    assert events == [] and responses == ["Event: QueueEntry\r\nQueue: hotline\r\nActionID: a-7"]


def test_reset_forgets_partial_frame() -> None:
    d, events, _ = decoder()
    d.feed(BANNER + b"Event: Half\r\nQueue: hot")
    d.reset()
    d.feed(BANNER + b"Event: Whole\r\n\r\n")
    assert [e["Event"] for e in events] == ["Whole"]


def test_bad_numbers_and_timestamps_do_not_raise() -> None:
    event = build_event({"Event": "AgentConnect", "HoldTime": "x", "RingTime": "1.5", "Timestamp": "soon"}, 42.0)
    assert event is not None and event.ts == 42.0
    assert event.hold_time == 0 and event.ring_time == 1  # type: ignore[attr-defined]
    assert build_event({"Event": "SomethingElse"}, 0.0) is None


def test_one_latin1_header_does_not_garble_the_utf8_headers_of_its_frame() -> None:
    # issue 13 item 6: the member name comes UTF-8 from Asterisk, the caller name Latin-1 from a trunk. Decoding
    # the whole frame as cp1252 stored the agent as "Ben SchÃ¤fer" and split the per-agent figures.
    d, events, _ = decoder(event_filter=tracker_filter())
    frame = (
        b"Event: AgentConnect\r\nQueue: hotline\r\nUniqueid: 1.1\r\nLinkedid: 1.1\r\n"
        + "MemberName: Ben Schäfer\r\n".encode()
        + "CallerIDName: Jürgen Müller\r\n".encode("latin-1")
        + "ConnectedLineName: Ben Schäfer\r\n".encode()
        + b"Interface: PJSIP/102\r\n\r\n"
    )
    d.feed(BANNER + frame)
    (fields,) = events
    assert fields["MemberName"] == "Ben Schäfer" and fields["ConnectedLineName"] == "Ben Schäfer"
    assert fields["CallerIDName"] == "Jürgen Müller"
    assert d.stats.fallback_decoded == 1
    event = build_event(fields, 0.0)
    assert event.member_name == "Ben Schäfer" and event.caller_name == "Jürgen Müller"  # type: ignore[attr-defined]


# --- issue 17 item 5: the fast path reads what the plain one reads ---------------------------------------------------

STREAM = (
    BANNER
    + b"Response: Success\r\nActionID: 1\r\nMessage: Authentication accepted\r\n\r\n"
    + b"Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n"
    + b"Event: VarSet\r\nChannel: PJSIP/t-1\r\nUniqueid: 1.1\r\nVariable: BRIDGEPEER\r\nValue: x\r\n\r\n"
    + b"Event: VarSet\r\nChannel: PJSIP/t-1\r\nUniqueid: 1.1\r\nVariable: UHD_TENANT\r\nValue: a\r\n\r\n"
    + "Event: QueueCallerJoin\r\nCallerIDName: Müller\r\nQueue: hotline\r\n\r\n".encode("latin-1")
    + b"Event: Cdr\r\nUniqueID: 1.1\r\n\r\n"
    + b"Event: Big\r\nData: "
    + b"y" * (MAX_FRAME + 10)
    + b"\r\n\r\n"
    + b"Event: QueueEntry\r\nQueue: hotline\r\nActionID: a-7\r\n\r\n"
    + b"Event: Hangup\r\nUniqueid: 1.1\r\nCause: 16\r\n\r\n"
    + b"nonsense\r\n\r\n"
)


def _read(pieces: list[bytes]) -> tuple[list[dict[str, str]], list[str], FrameStats]:
    events: list[dict[str, str]] = []
    responses: list[str] = []
    d = FrameDecoder(lambda frame: events.append(dict(frame)), responses.append, tracker_filter())
    for piece in pieces:
        d.feed(piece)
    return events, responses, d.stats


def test_a_stream_read_in_any_pieces_gives_the_same_frames() -> None:
    whole = _read([STREAM])
    assert [e["Event"] for e in whole[0]] == ["FullyBooted", "VarSet", "QueueCallerJoin", "Hangup"]
    assert whole[0][2]["CallerIDName"] == "Müller" and whole[2].fallback_decoded == 1
    assert len(whole[1]) == 2 and whole[2].oversized == 1 and whole[2].skipped == 2 and whole[2].malformed == 1
    rng = random.Random(17)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(STREAM)), rng.randrange(1, 40)))
        # a separator cut anywhere: before, inside and after each of its four bytes
        cuts += [at + k for at in (STREAM.index(SEP, 200), STREAM.index(SEP, 500)) for k in range(5)]
        cuts = sorted(set(cuts))
        pieces = [STREAM[a:b] for a, b in zip([0, *cuts], [*cuts, len(STREAM)], strict=True)]
        assert _read(pieces) == whole


def test_a_frame_is_a_mapping_of_its_headers_as_parse_fields_reads_them() -> None:
    text = (
        "Event: AgentConnect\r\nQueue: first\r\nChanVariable: A=1\r\nChanVariable:\r\nChanVariable: B=2\r\n"
        "PausedReason:\r\nValue: a: b\r\nAppData: x\ny\rz\r\nQueue: last\r\n: no key\r\nno colon"
    )
    frame, plain = Frame(text), parse_fields(text)
    assert frame == plain and dict(frame) == plain and len(frame) == len(plain) and list(frame) == list(plain)
    assert frame.name == "AgentConnect" and frame.get("Event") == "AgentConnect"
    assert frame["Queue"] == "last"  # a header given twice: its last value
    assert frame.get("ChanVariable") == "A=1\n\nB=2" == plain["ChanVariable"]
    assert frame.get("PausedReason") == "" and frame["Value"] == "a: b" and frame["AppData"] == "x\ny\rz"
    assert frame.get("Nope") is None and frame.get("Nope", "-") == "-" and "Nope" not in frame and "Queue" in frame
    for key in ("", "a: b", "Value: a", "Queue\r\nValue", 7):
        assert frame.get(key) == plain.get(key)  # type: ignore[call-overload]
    with pytest.raises(KeyError):
        frame["Nope"]
    assert Frame("Hangup: no event line").name == ""


def test_headers_reads_the_headers_asked_for_in_one_pass() -> None:
    headers = Headers("Queue", "PausedReason", "Value")
    frame = Frame("Event: X\r\nQueue: a\r\nPausedReason:\r\nValue: b\rc\r\nQueue: d")
    assert headers.of(frame) == {"Queue": "d", "PausedReason": "", "Value": "b\rc"}
    plain = {"Event": "X", "Queue": "a"}
    assert headers.of(plain) is plain
    for bad in ((), ("",), ("a: b",), ("ChanVariable",), ("A\r\nB",)):
        with pytest.raises(ValueError):
            Headers(*bad)


def test_a_layout_reads_a_frame_laid_out_so_in_one_match_and_any_other_header_by_header() -> None:
    layout = Layout("Privilege", "=Timestamp", "=Uniqueid", "*ChanVariable", "~DestChanVariable", "=Cause",
                    extra=("Reason",))  # fmt: skip
    laid_out = Frame(
        "Event: Hangup\r\nPrivilege: call,all\r\nTimestamp: 1.5\r\nUniqueid: 1.1\r\nChanVariable: A=1\r\n"
        "ChanVariable: B=\nx\r\nDestChanVariable: C=3\r\nCause: 16"
    )
    assert layout.matches(laid_out)
    values = layout.read(laid_out)
    assert values == ("1.5", "1.1", "\r\nChanVariable: A=1\r\nChanVariable: B=\nx", "16", "")
    assert run_values(values[2], "ChanVariable") == ["A=1", "B=\nx"]
    # the same headers in another order, with a line more, or as a plain mapping: header by header, same values
    other = Frame("Event: Hangup\r\nTimestamp: 1.5\r\nCause: 16\r\nReason: r\r\nUniqueid: 1.1\r\nChanVariable: A=1")
    assert not layout.matches(other)
    assert layout.read(other) == ["1.5", "1.1", "\r\nChanVariable: A=1", "16", "r"]
    assert layout.read(parse_fields(other.text)) == layout.read(other)
    assert layout.read({"Event": "Hangup"}) == ["", "", "", "", ""]
    for bad in (("=ChanVariable",), ("*Cause",)):
        with pytest.raises(ValueError):
            Layout(*bad)
    with pytest.raises(ValueError):
        Layout("=Cause", extra=("Cause",))


def test_a_needle_is_looked_for_in_the_frames_last_line_of_its_header() -> None:
    wanted = EventFilter({"Hangup"}, needles={"VarSet": (b"\r\nVariable: UHD_", b"\r\nVariable: QUEUESTATUS\r\n")})
    assert wanted.wants(b"Event: VarSet\r\nUniqueid: 1\r\nVariable: UHD_TENANT\r\nValue: a")
    assert wanted.wants(b"Event: VarSet\r\nVariable: QUEUESTATUS\r\nValue: TIMEOUT")
    assert not wanted.wants(b"Event: VarSet\r\nVariable: QUEUESTATUSX\r\nValue: x")
    assert not wanted.wants(b"Event: VarSet\r\nChanVariable: UHD_TENANT=a\r\nVariable: BRIDGEPEER\r\nValue: x")
    assert not wanted.wants(b"Event: VarSet\r\nValue: \r\nVariable: UHD_X\r\nVariable: BRIDGEPEER")  # the last one
    assert wanted.wants(b"Event: Hangup") and not wanted.wants(b"Event: Hangups\r\nX: y")
    assert not wanted.wants(b"Response: Success\r\nActionID: 1")
    assert wanted.names() == {"Hangup", "VarSet"}


def test_an_unread_list_event_is_a_response_only_while_an_action_waits_for_one() -> None:
    frame = b"Event: QueueMember\r\nQueue: hotline\r\nActionID: a-7\r\n\r\n"
    awaiting: dict[str, object] = {}
    responses: list[str] = []
    d = FrameDecoder(lambda frame: None, responses.append, tracker_filter(), awaiting=awaiting)
    d.feed(BANNER + frame)
    assert responses == [] and d.stats.skipped == 1  # nothing to answer: like any event nobody reads
    awaiting["a-7"] = object()
    d.feed(frame)
    assert responses == ["Event: QueueMember\r\nQueue: hotline\r\nActionID: a-7"] and d.stats.responses == 1
