"""The AMI events of the simulated PBX, with the headers, header order and privileges of Asterisk 22.

Every method builds one frame (text ending in a blank line) and hands it to the sink with its privilege class
(``call``, ``dialplan``, ``agent``, …) so sessions can filter by event mask. Header order follows the recorded
traces exactly (``tests/data/ami-traces``); ``Timestamp`` is the virtual clock's time (``timestampevents=yes``),
nudged a few microseconds forward per frame so the stream stays strictly increasing, as a real one does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from uhd_telephony.simulator.channels import Bridge, Channel, prefixed, shown

Sink = Callable[[str, str], None]

# ast_cause2str() for the causes the simulated calls end with
CAUSE_TEXT = {0: "Unknown", 16: "Normal Clearing", 17: "User busy", 19: "No user responding", 26: "Answered elsewhere"}
# ast_devstate2str()
DEVICE_STATE = {
    0: "UNKNOWN",
    1: "NOT_INUSE",
    2: "INUSE",
    3: "BUSY",
    4: "INVALID",
    5: "UNAVAILABLE",
    6: "RINGING",
    7: "RINGINUSE",
    8: "ONHOLD",
}
PRES_ALLOWED = "0 (Presentation Allowed, Not Screened)"
STEP = 0.000005  # spacing of frames emitted at one instant (what a real Asterisk shows on loopback)


def cdr_time(ts: float | None) -> str:
    """CDR times are local wall-clock ``YYYY-MM-DD HH:MM:SS`` (the recorded PBX ran in UTC)."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


class Emitter:
    """Builds event frames at the clock's time and passes them to a sink."""

    def __init__(self, now: Callable[[], float], sink: Sink) -> None:
        self._now = now
        self.sink = sink
        self._last = 0.0
        self.frames = 0

    def stamp(self) -> str:
        ts = self._now()
        if ts <= self._last:
            ts = self._last + STEP
        self._last = ts
        return f"{ts:.6f}"

    def _send(self, event: str, privilege: str, body: str) -> None:
        self.frames += 1
        self.sink(f"Event: {event}\r\nPrivilege: {privilege},all\r\nTimestamp: {self.stamp()}\r\n{body}\r\n", privilege)

    # channel lifecycle --------------------------------------------------------------------------------------
    def channel_event(self, event: str, ch: Channel, tail: str = "", privilege: str = "call") -> None:
        self._send(event, privilege, ch.block() + tail)

    def newchannel(self, ch: Channel) -> None:
        self._send("Newchannel", "call", ch.block())

    def newstate(self, ch: Channel, state: int) -> None:
        ch.set_state(state)
        self._send("Newstate", "call", ch.block())

    def newcallerid(self, ch: Channel, num: str, name: str, pres: str = PRES_ALLOWED) -> None:
        ch.set_callerid(num, name)
        self._send("NewCallerid", "call", f"{ch.block()}CID-CallingPres: {pres}\r\n")

    def newconnectedline(self, ch: Channel, num: str, name: str) -> None:
        ch.set_connected(num, name)
        self._send("NewConnectedLine", "call", ch.block())

    def newexten(self, ch: Channel, app: str, data: str) -> None:
        ch.app, ch.app_data = app, data
        tail = f"Extension: {ch.exten}\r\nApplication: {app}\r\nAppData: {data}\r\n"
        self._send("Newexten", "dialplan", ch.block() + tail)

    def varset(self, ch: Channel, variable: str, value: str) -> None:
        name = variable.lstrip("_")
        ch.variables[name] = value
        if name in ch.chanvars:
            ch.changed()  # the snapshot block shows it from now on
        self._send("VarSet", "dialplan", f"{ch.block()}Variable: {variable}\r\nValue: {value}\r\n")

    def varsets(self, ch: Channel, pairs: Iterable[tuple[str, str]]) -> None:
        for variable, value in pairs:
            self.varset(ch, variable, value)

    def hangup_request(self, ch: Channel, cause: int = 16, soft: bool = False) -> None:
        self._send("SoftHangupRequest" if soft else "HangupRequest", "call", f"{ch.block()}Cause: {cause}\r\n")

    def hangup(self, ch: Channel, cause: int = 16) -> None:
        self._send("Hangup", "call", f"{ch.block()}Cause: {cause}\r\nCause-txt: {CAUSE_TEXT.get(cause, 'Unknown')}\r\n")

    def unhold(self, ch: Channel) -> None:
        self._send("Unhold", "call", ch.block())

    # dialing ----------------------------------------------------------------------------------------------
    def dial_begin(self, caller: Channel | None, dest: Channel, dialstring: str) -> None:
        head = caller.block() if caller is not None else ""
        self._send("DialBegin", "call", f"{head}{dest.dest_block()}DialString: {dialstring}\r\n")

    def dial_state(self, caller: Channel, dest: Channel, status: str) -> None:
        self._send("DialState", "call", f"{caller.block()}{dest.dest_block()}DialStatus: {status}\r\n")

    def dial_end(self, caller: Channel | None, dest: Channel, status: str) -> None:
        head = caller.block() if caller is not None else ""
        self._send("DialEnd", "call", f"{head}{dest.dest_block()}DialStatus: {status}\r\n")

    def device_state(self, device: str, state: int) -> None:
        self._send("DeviceStateChange", "call", f"Device: {device}\r\nState: {DEVICE_STATE.get(state, 'UNKNOWN')}\r\n")

    # bridges ----------------------------------------------------------------------------------------------
    def bridge_create(self, bridge: Bridge) -> None:
        self._send("BridgeCreate", "call", bridge.block())

    def bridge_enter(self, bridge: Bridge, ch: Channel) -> None:
        bridge.channels.append(ch)
        ch.bridge = bridge
        self._send("BridgeEnter", "call", bridge.block() + ch.block())

    def bridge_leave(self, bridge: Bridge, ch: Channel) -> None:
        if ch in bridge.channels:
            bridge.channels.remove(ch)
        ch.bridge = None
        self._send("BridgeLeave", "call", bridge.block() + ch.block())

    def bridge_destroy(self, bridge: Bridge) -> None:
        self._send("BridgeDestroy", "call", bridge.block())

    def blind_transfer(
        self, transferer: Channel, transferee: Channel, bridge: Bridge, context: str, exten: str
    ) -> None:
        body = (
            "Result: Success\r\n"
            f"{prefixed(transferer, 'Transferer')}{prefixed(transferee, 'Transferee')}{bridge.block()}"
            f"IsExternal: Yes\r\nContext: {context}\r\nExtension: {exten}\r\n"
        )
        self._send("BlindTransfer", "call", body)

    # app_queue ------------------------------------------------------------------------------------------
    def queue_caller(self, event: str, ch: Channel, queue: str, tail: str) -> None:
        """QueueCallerJoin / QueueCallerLeave / QueueCallerAbandon."""
        self._send(event, "agent", f"{ch.block()}Queue: {queue}\r\n{tail}")

    def agent_event(
        self, event: str, caller: Channel, agent: Channel, queue: str, interface: str, member: str, tail: str = ""
    ) -> None:
        """AgentCalled / AgentConnect / AgentComplete / AgentRingNoAnswer: caller block, then the agent leg."""
        head = caller.block() + agent.dest_block()
        self._send(event, "agent", f"{head}Queue: {queue}\r\nInterface: {interface}\r\nMemberName: {member}\r\n{tail}")

    def queue_member(self, event: str, body: str) -> None:
        """QueueMemberStatus / Pause / Added / Removed / Penalty / Ringinuse (body built by the member)."""
        self._send(event, "agent", body)

    # the rest ---------------------------------------------------------------------------------------------
    def user_event(self, ch: Channel, name: str, headers: Iterable[tuple[str, str]]) -> None:
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers)
        self._send("UserEvent", "user", f"{ch.block()}UserEvent: {name}\r\n{extra}")

    def agi_exec(self, ch: Channel, command_id: int, command: str, result: str | None = None) -> None:
        """AGIExecStart, or AGIExecEnd when ``result`` is given (``200 result=1`` style)."""
        if result is None:
            self._send("AGIExecStart", "agi", f"{ch.block()}CommandId: {command_id}\r\nCommand: {command}\r\n")
        else:
            self._send(
                "AGIExecEnd",
                "agi",
                f"{ch.block()}CommandId: {command_id}\r\nCommand: {command}\r\nResultCode: 200\r\nResult: {result}\r\n",
            )

    def cdr(
        self,
        ch: Channel,
        *,
        destination: str,
        destination_context: str,
        dest_channel: str,
        last_app: str,
        last_data: str,
        start: float,
        answer: float | None,
        end: float,
        disposition: str,
        userfield: str = "",
    ) -> None:
        # the CallerID header shows "Name" <num> only when a name is set; the field is spelled UniqueID
        num = ch.cid_num
        cid = f'"{ch.cid_name}" <{num}>' if ch.cid_name else (f"<{num}>" if num else "")
        duration = int(end - start)
        billable = int(end - answer) if answer is not None else 0
        body = (
            f"AccountCode: {ch.accountcode}\r\nSource: {num}\r\nDestination: {destination}\r\n"
            f"DestinationContext: {destination_context}\r\nCallerID: {cid}\r\nChannel: {ch.name}\r\n"
            f"DestinationChannel: {dest_channel}\r\nLastApplication: {last_app}\r\nLastData: {last_data}\r\n"
            f"StartTime: {cdr_time(start)}\r\nAnswerTime: {cdr_time(answer)}\r\nEndTime: {cdr_time(end)}\r\n"
            f"Duration: {duration}\r\nBillableSeconds: {billable}\r\nDisposition: {disposition}\r\n"
            f"AMAFlags: DOCUMENTATION\r\nUniqueID: {ch.uniqueid}\r\nUserField: {userfield}\r\n"
        )
        self._send("Cdr", "cdr", body)

    def originate_response(
        self,
        action_id: str | None,
        *,
        success: bool,
        channel: str,
        context: str,
        exten: str,
        reason: int,
        uniqueid: str,
        cid_num: str,
        cid_name: str,
    ) -> None:
        aid = f"ActionID: {action_id}\r\n" if action_id else ""
        body = (
            f"{aid}Response: {'Success' if success else 'Failure'}\r\nChannel: {channel}\r\nContext: {context}\r\n"
            f"Exten: {exten}\r\nReason: {reason}\r\nUniqueid: {uniqueid}\r\n"
            f"CallerIDNum: {shown(cid_num)}\r\nCallerIDName: {shown(cid_name)}\r\n"
        )
        self._send("OriginateResponse", "call", body)

    def raw(self, event: str, privilege: str, body: str) -> None:
        """Any other event (SuccessfulAuth, Reload, …)."""
        self._send(event, privilege, body)
