"""The frame decoder: framing before decoding, fallbacks, skips and limits."""

from __future__ import annotations

from uhd_telephony.ami.events import build_event, chan_vars, tracker_filter
from uhd_telephony.ami.frames import MAX_FRAME, FrameDecoder, parse_fields

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
