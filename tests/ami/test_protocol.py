"""The pieces of the protocol that need no socket: reply parsing, the action wire form, the control filter."""

from __future__ import annotations

import pytest
from panoramisk import utils

from uhd_telephony.ami.events import chan_vars
from uhd_telephony.ami.frames import EventFilter
from uhd_telephony.ami.protocol import AmiAction, _WithControlEvents, default_as_list, message_fields, to_message


def test_chanvariable_is_always_one_string() -> None:
    one = to_message("Event: CoreShowChannel\r\nActionID: 1\r\nChanVariable: UHD_TENANT=klinikum")
    two = to_message("Event: CoreShowChannel\r\nActionID: 1\r\nChanVariable: UHD_TENANT=a\r\nChanVariable: UHD_VIP=1")
    assert one is not None and two is not None
    assert one["ChanVariable"] == "UHD_TENANT=klinikum"
    assert two["ChanVariable"] == "UHD_TENANT=a\nUHD_VIP=1"
    assert chan_vars(message_fields(two)) == {"UHD_TENANT": "a", "UHD_VIP": "1"}


def test_empty_last_header_is_kept_with_or_without_its_space() -> None:
    message = to_message("Event: QueueMember\r\nActionID: 1\r\nPausedReason: \r\nBridgeId:")
    assert message is not None
    assert message["PausedReason"] == "" and message["BridgeId"] == ""


def test_follows_body_and_quoted_result() -> None:
    follows = to_message("Response: Follows\r\nActionID: 1\r\nPrivilege: Command\r\nline one\r\n--END COMMAND--")
    assert follows is not None and follows.content == "--END COMMAND--" and follows.success
    agi = to_message("Event: AsyncAGIExec\r\nActionID: 1\r\nResult: 200%20result%3D1%0A")
    assert agi is not None and agi["Result"] == "200 result=1"


def test_non_ami_text_is_no_message() -> None:
    assert to_message("hello: world") is None


def test_message_fields_is_plain_strings_without_the_empty_body() -> None:
    message = to_message("Response: Success\r\nActionID: 7\r\nMessage: ok")
    assert message is not None
    assert message_fields(message) == {"Response": "Success", "ActionID": "7", "Message": "ok"}


async def test_action_wire_form_is_crlf_and_repr_hides_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(utils, "EOL", "\n")  # what importing panoramisk.testing does to the whole process
    action = AmiAction({"Action": "Login", "Username": "uhd", "Secret": "top-secret", "ActionID": "a-1"})
    wire = str(action)
    assert wire == "Action: Login\r\nActionID: a-1\r\nSecret: top-secret\r\nUsername: uhd\r\n\r\n"
    assert "top-secret" not in repr(action) and "***" in repr(action)
    listed = AmiAction({"Action": "Setvar", "Variable": ["A=1", "B=2"], "ActionID": "a-2"})
    assert "Variable: A=1\r\nVariable: B=2\r\n" in str(listed)


def test_originate_reply_shape_is_decided_up_front() -> None:
    assert default_as_list({"Action": "Originate"}) is False
    assert default_as_list({"Action": "Originate", "Async": "true"}) is True
    assert default_as_list({"Action": "QueueStatus"}) is None


def test_control_events_pass_any_owner_filter() -> None:
    wanted = _WithControlEvents(EventFilter({"Hangup"}))
    assert wanted.wants(b"Event: Shutdown\r\nRestart: True")
    assert wanted.wants(b"Event: FullyBooted\r\nStatus: Fully Booted")
    assert wanted.wants(b"Event: Hangup\r\nChannel: x")
    assert not wanted.wants(b"Event: VarSet\r\nVariable: X")
    assert wanted.names() == {"Hangup", "Shutdown", "FullyBooted"}
