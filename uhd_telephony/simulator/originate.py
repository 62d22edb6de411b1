"""AMI Originate as the helpdesk uses it for callbacks: the agent's phone rings first, then the number is dialled.

``Originate Channel=PJSIP/101 Context=callbacks Exten=<number> Async=true``: Newchannel for the agent leg,
Ringing, and when the agent picks up ``OriginateResponse`` (``Response: Success``, ``Reason: 4``) with the
action's ActionID; then the dialplan dials the number over the trunk (DialBegin, DialEnd ANSWER, a bridge) and
both hang up after the conversation. A callback (``Variable: UHD_CALLBACK_ID=<id>``) dials with the U() option
of the product's ``[uhd-outbound]``: once the caller answered, ``[uhd-callback-answered]`` runs on the caller's
channel (Newexten, VarSet ``UHD_CALLBACK_REACHED``, ``UserEvent UhdCallback`` with ``CallbackId``, ``Tenant`` and
``Stage: answered`` after the channel block, as Asterisk writes a UserEvent), then the bridge.

A phone that is busy or not answered within ``Timeout`` gives
``Response: Failure`` with Reason 5 or 3 and ``Channel: <tech/data>`` as given, like Asterisk. A phone that is a
queue member shows its ringing and talking to the queues too (QueueMemberStatus).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from uhd_telephony.ami import names
from uhd_telephony.callbacks.originate import VAR_CALLBACK_ID
from uhd_telephony.simulator.channels import RINGING, UP, Bridge, Channel
from uhd_telephony.simulator.clock import Timer

if TYPE_CHECKING:
    from uhd_telephony.simulator.pbx import Pbx
    from uhd_telephony.simulator.queues import Device

REASON_NO_ANSWER, REASON_ANSWERED, REASON_BUSY = 3, 4, 5


class Origination:
    """One originated call: first leg (usually an agent phone), then the dialled number."""

    def __init__(
        self,
        pbx: Pbx,
        *,
        channel: str,
        context: str = "",
        exten: str = "",
        priority: int = 1,
        application: str = "",
        data: str = "",
        callerid: tuple[str, str] | None = None,
        timeout_s: float = 30.0,
        action_id: str | None = None,
        variables: dict[str, str] | None = None,
        channel_id: str | None = None,
    ) -> None:
        self.pbx = pbx
        self.interface = channel
        self.context = context
        self.exten = exten
        self.priority = priority
        self.application = application
        self.data = data
        self.callerid = callerid
        self.timeout_s = timeout_s
        self.action_id = action_id
        self.variables = variables or {}
        self.channel_id = channel_id
        self.device: Device | None = pbx.devices.get(channel)
        self.done = False
        self.ch: Channel | None = None
        self.callee: Channel | None = None
        self.bridge: Bridge | None = None
        self.answered_at = 0.0
        self.callee_up = 0.0
        self._timers: list[Timer] = []

    def owns(self, channel: str) -> bool:
        return any(c is not None and c.name == channel for c in (self.ch, self.callee))

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        self._timers.append(self.pbx.clock.call_later(delay, fn))

    def start(self) -> None:
        pbx, em = self.pbx, self.pbx.em
        ch = self.ch = pbx.factory.new(
            self.interface,
            uniqueid=self.channel_id,
            context=pbx.config.agent_context if self.device is not None else "default",
            exten="s",
        )
        pbx.register(ch)
        em.newchannel(ch)
        for name, value in self.variables.items():
            em.varset(ch, name, value)
        em.newexten(ch, "AppDial2", "(Outgoing Line)")
        if self.callerid is not None:
            em.newcallerid(ch, *self.callerid)
        dev = self.device
        if dev is not None and dev.behaviour.busy:
            self._later(0.02, lambda: self._fail(REASON_BUSY, 17))
            return
        em.newstate(ch, RINGING)
        if dev is not None:
            dev.ringing += 1
            pbx.device_changed(dev)
            answers = not dev.behaviour.never_answer and dev.behaviour.ring_s < self.timeout_s
            ring_s = dev.behaviour.ring_s
        else:
            answers, ring_s = pbx.config.callee_answer_s < self.timeout_s, pbx.config.callee_answer_s
        if answers:
            self._later(ring_s, self._answered)
        else:
            self._later(self.timeout_s, lambda: self._fail(REASON_NO_ANSWER, 0))

    def _fail(self, reason: int, cause: int) -> None:
        pbx, em, ch = self.pbx, self.pbx.em, self.ch
        assert ch is not None
        em.hangup(ch, cause)
        pbx.unregister(ch)
        if self.device is not None and reason != REASON_BUSY:
            self.device.ringing = max(self.device.ringing - 1, 0)
            pbx.device_changed(self.device)
        cid_num, cid_name = self.callerid or ("", "")
        em.originate_response(
            self.action_id, success=False, channel=self.interface, context=self.context, exten=self.exten,
            reason=reason, uniqueid="<null>", cid_num=cid_num, cid_name=cid_name,
        )  # fmt: skip
        self.done = True

    def _answered(self) -> None:
        pbx, em, ch, dev = self.pbx, self.pbx.em, self.ch, self.device
        assert ch is not None
        em.newstate(ch, UP)
        self.answered_at = pbx.clock.now()
        if dev is not None:
            dev.ringing = max(dev.ringing - 1, 0)
            dev.inuse += 1
            pbx.device_changed(dev)
        em.originate_response(
            self.action_id, success=True, channel=ch.name, context=self.context, exten=self.exten,
            reason=REASON_ANSWERED, uniqueid=ch.uniqueid, cid_num=ch.cid_num, cid_name=ch.cid_name,
        )  # fmt: skip
        if self.application:
            em.newexten(ch, self.application, self.data)
            if self.application.lower() == "dial" and self.data:
                self._dial(self.data.split(",", 1)[0])
            else:
                self._later(pbx.config.callee_talk_s, self._end)
            return
        ch.goto(self.context or "default", self.exten or "s", self.priority)
        em.newexten(ch, "NoOp", f"UHD callback to {self.exten}")
        ch.goto(ch.context, ch.exten, ch.priority + 1)
        target = f"PJSIP/{self.exten}@{pbx.config.callback_trunk}"
        gosub = self._answered_gosub()
        em.newexten(ch, "Dial", f"{target},60" + (f",U({'^'.join(gosub)})" if gosub else ""))
        self._dial(target)

    def _answered_gosub(self) -> tuple[str, str, str] | None:
        """The U() gosub of a callback's Dial: (context, callback id, tenant); None for any other Originate."""
        callback_id = self.variables.get(VAR_CALLBACK_ID, "")
        if not callback_id:
            return None
        return ("uhd-callback-answered", callback_id, self.variables.get(names.VAR_TENANT, ""))

    def _dial(self, target: str) -> None:
        """Dial(): the far end on the trunk rings and answers after ``callee_answer_s``."""
        pbx, em, ch = self.pbx, self.pbx.em, self.ch
        assert ch is not None
        number, _, trunk = target.partition("/")[2].partition("@")
        callee = self.callee = pbx.factory.new(
            f"PJSIP/{trunk or pbx.config.callback_trunk}",
            linkedid=ch.linkedid,
            cid_num=ch.cid_num,
            cid_name=ch.cid_name,
            context="from-trunk",
            exten="s",
        )
        pbx.register(callee)
        em.newchannel(callee)
        em.varset(callee, "DIALEDPEERNUMBER", f"{number}@{trunk}" if trunk else number)
        em.dial_begin(ch, callee, target.partition("/")[2])
        pbx.trunk_changed(callee.device, +1)
        em.newstate(callee, RINGING)
        em.dial_state(ch, callee, "RINGING")
        self._later(pbx.config.callee_answer_s, self._callee_answered)

    def _callee_answered(self) -> None:
        pbx, em, ch, callee = self.pbx, self.pbx.em, self.ch, self.callee
        assert ch is not None and callee is not None
        em.newstate(callee, UP)
        em.dial_end(ch, callee, "ANSWER")
        gosub = self._answered_gosub() if not self.application else None
        if gosub is not None:  # Dial's U(): on the called channel after its answer, before the bridge
            context, callback_id, tenant = gosub
            callee.goto(context, "s", 1)
            em.newexten(callee, "Set", f"{names.VAR_CALLBACK_REACHED}={callback_id}")
            em.varset(callee, names.VAR_CALLBACK_REACHED, callback_id)
            callee.goto(context, "s", 2)
            em.newexten(callee, "Set", f"{names.VAR_TENANT}={tenant}")
            em.varset(callee, names.VAR_TENANT, tenant)
            callee.goto(context, "s", 3)
            body = f"{names.USEREVENT_UHD_CALLBACK},CallbackId: {callback_id},Tenant: {tenant},Stage: answered"
            em.newexten(callee, "UserEvent", body)
            headers = (("CallbackId", callback_id), ("Tenant", tenant), ("Stage", names.CALLBACK_ANSWERED))
            em.user_event(callee, names.USEREVENT_UHD_CALLBACK, headers)
            callee.goto(context, "s", 4)
            em.newexten(callee, "Return", "")
        em.newconnectedline(ch, callee.exten if callee.exten != "s" else self.exten, "")
        bridge = self.bridge = pbx.factory.bridge()
        em.bridge_create(bridge)
        em.bridge_enter(bridge, ch)
        em.bridge_enter(bridge, callee)
        em.varset(ch, "BRIDGEPEER", callee.name)
        em.varset(callee, "BRIDGEPEER", ch.name)
        self.callee_up = pbx.clock.now()
        self._later(pbx.config.callee_talk_s, self._end)

    def hangup(self) -> None:
        """AMI Hangup on one of the legs: end the call now."""
        for timer in self._timers:
            timer.cancel()
        if self.answered_at:
            self._end()
        else:
            self._fail(REASON_NO_ANSWER, 16)

    def _end(self) -> None:
        """The called number hangs up; Dial() returns and the dialplan hangs up the agent leg."""
        if self.done:
            return
        pbx, em, ch, callee, bridge = self.pbx, self.pbx.em, self.ch, self.callee, self.bridge
        assert ch is not None
        for timer in self._timers:
            timer.cancel()
        now = pbx.clock.now()
        if callee is not None:
            em.hangup_request(callee)
            if bridge is not None:
                em.varset(callee, "BRIDGEPEER", "")
                em.bridge_leave(bridge, callee)
            em.hangup(callee)
            pbx.unregister(callee)
            pbx.trunk_changed(callee.device, -1)
            if bridge is not None:
                em.varset(ch, "BRIDGEPEER", "")
                em.bridge_leave(bridge, ch)
                em.bridge_destroy(bridge)
            talked = now - self.callee_up if self.callee_up else 0.0
            em.varsets(
                ch,
                (
                    ("DIALSTATUS", "ANSWER" if bridge is not None else "NOANSWER"),
                    ("ANSWEREDTIME", str(int(talked))),
                    ("DIALEDTIME", str(int(now - self.answered_at))),
                ),
            )
            ch.goto(ch.context, ch.exten, ch.priority + 1)
            em.newexten(ch, "Hangup", "")
        em.hangup(ch)
        em.cdr(
            ch,
            destination=self.exten or "s",
            destination_context=self.context or "default",
            dest_channel=callee.name if callee is not None else "",
            last_app=ch.app,
            last_data=ch.app_data,
            start=ch.created,
            answer=self.answered_at,
            end=now,
            disposition="ANSWERED",
        )
        pbx.unregister(ch)
        if self.device is not None:
            self.device.inuse = max(self.device.inuse - 1, 0)
            pbx.device_changed(self.device)
        self.done = True
