"""Builds AMI event frames for tracker tests, in the shape Asterisk 22 sends them."""

from __future__ import annotations

from dataclasses import dataclass, field


def frame(event: str, **headers: object) -> bytes:
    lines = [f"Event: {event}", "Privilege: agent,all"]
    lines += [f"{k.replace('_', '-') if k == 'Cause_txt' else k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass
class Caller:
    """One caller channel; each method returns the frames Asterisk would send for that step."""

    uniqueid: str
    number: str = "+4923198600001"
    name: str = "Dr. Meier"
    queue: str = "hotline"
    channel: str = ""
    dialled: str = "+4923198600"
    linkedid: str = ""
    agents: dict[str, str] = field(default_factory=lambda: {"PJSIP/101": "Agent Anna"})

    def __post_init__(self) -> None:
        self.channel = self.channel or f"PJSIP/trunk-{self.uniqueid.replace('.', '')}"
        self.linkedid = self.linkedid or self.uniqueid

    def _chan(self) -> dict[str, object]:
        return {
            "Channel": self.channel,
            "CallerIDNum": self.number,
            "CallerIDName": self.name,
            "Uniqueid": self.uniqueid,
            "Linkedid": self.linkedid,
        }

    def newchannel(self, ts: float) -> bytes:
        return frame("Newchannel", Timestamp=f"{ts:.6f}", Exten=self.dialled, Context="from-trunk", **self._chan())

    def varset(self, ts: float, variable: str, value: str) -> bytes:
        return frame("VarSet", Timestamp=f"{ts:.6f}", Variable=variable, Value=value, **self._chan())

    def queue_app(self, ts: float) -> bytes:
        return frame(
            "Newexten", Timestamp=f"{ts:.6f}", Application="Queue", AppData=f"{self.queue},r,,,60", **self._chan()
        )

    def join(self, ts: float, position: int = 1) -> bytes:
        return frame(
            "QueueCallerJoin", Timestamp=f"{ts:.6f}", Queue=self.queue, Position=position, Count=1, **self._chan()
        )

    def _agent(self, iface: str, n: int) -> dict[str, object]:
        return {
            "DestChannel": f"{iface}-{n:08x}",
            "DestUniqueid": f"{self.uniqueid}{n}",
            "Queue": self.queue,
            "Interface": iface,
            "MemberName": self.agents.get(iface, iface),
        }

    def called(self, ts: float, iface: str = "PJSIP/101", n: int = 1) -> bytes:
        return frame("AgentCalled", Timestamp=f"{ts:.6f}", **self._chan(), **self._agent(iface, n))

    def ring_no_answer(self, ts: float, ring_ms: int, iface: str = "PJSIP/101", n: int = 1) -> bytes:
        return frame(
            "AgentRingNoAnswer", Timestamp=f"{ts:.6f}", RingTime=ring_ms, **self._chan(), **self._agent(iface, n)
        )

    def leave(self, ts: float) -> bytes:
        return frame("QueueCallerLeave", Timestamp=f"{ts:.6f}", Queue=self.queue, Position=1, Count=0, **self._chan())

    def connect(self, ts: float, hold: int, iface: str = "PJSIP/101", n: int = 1) -> bytes:
        return frame(
            "AgentConnect", Timestamp=f"{ts:.6f}", HoldTime=hold, RingTime=1, **self._chan(), **self._agent(iface, n)
        )

    def complete(self, ts: float, hold: int, talk: int, reason: str = "agent", iface: str = "PJSIP/101") -> bytes:
        return frame(
            "AgentComplete",
            Timestamp=f"{ts:.6f}",
            HoldTime=hold,
            TalkTime=talk,
            Reason=reason,
            **self._chan(),
            **self._agent(iface, 1),
        )

    def abandon(self, ts: float, hold: int) -> bytes:
        return frame(
            "QueueCallerAbandon",
            Timestamp=f"{ts:.6f}",
            Queue=self.queue,
            Position=1,
            OriginalPosition=1,
            HoldTime=hold,
            **self._chan(),
        )

    def userevent(self, ts: float, name: str, **headers: object) -> bytes:
        return frame("UserEvent", Timestamp=f"{ts:.6f}", UserEvent=name, **self._chan(), **headers)

    def announced(self, ts: float, stage: str = "announced", queue: str | None = None) -> bytes:
        """The dialplan's ``UserEvent(UhdIncident,Queue: <queue>,Stage: <stage>)`` (dialplan/extensions.conf)."""
        return self.userevent(ts, "UhdIncident", Queue=queue or self.queue, Stage=stage)

    def hangup(self, ts: float) -> bytes:
        return frame("Hangup", Timestamp=f"{ts:.6f}", Cause=16, **self._chan())

    def answered_call(self, t0: float, wait: float = 3, talk: float = 30) -> bytes:
        return b"".join(
            [
                self.newchannel(t0 - 1),
                self.join(t0),
                self.called(t0 + 0.01),
                self.leave(t0 + wait),
                self.connect(t0 + wait + 0.001, int(wait)),
                self.complete(t0 + wait + talk, int(wait), int(talk)),
                self.hangup(t0 + wait + talk + 0.01),
            ]
        )
