"""The call tracker: a pure state machine from typed AMI events to call records and domain events.

One call is one caller channel's stay in one queue; its ``call_id`` is ``<Uniqueid>@<queue>`` (``#n`` added
when the same channel enters the same queue again). Linkedid is carried on every record: a blind transfer into
a second queue makes a second call with the same Linkedid, which tickets treat as the same conversation.

Asterisk reports a queue timeout and an empty-queue exit with the same ``QueueCallerAbandon`` as a caller
hang-up (``record_abandoned()`` in apps/app_queue.c). What follows on the caller channel tells them apart: a
``VarSet QUEUESTATUS=TIMEOUT|LEAVEEMPTY|...`` means Queue() returned and the channel lives on; a ``Hangup``
without it means the caller hung up. So an unanswered call is only finalised at its channel's Hangup, or when
a short grace period has passed after its outcome became known (the channel may live on in voicemail).

A major incident's announcement comes before the queue (``UserEvent UhdIncident``, ``Stage: announced``, then
``Stage: subscribed`` when the caller pressed the key). It marks the channel; a channel that hangs up after it
without ever entering a queue is a record of its own, never offered: ``incident_subscribed`` or ``incident_left``.
A caller who goes on into the queue is an ordinary call (its UHD_INCIDENT variable says an incident was open).

Times are the frames' ``Timestamp`` headers. The tracker never reads a clock: ``tick(now)`` is given the wall
time and converts it into Asterisk's time line using the receive time of the last event.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from uhd_telephony.ami import events as ev
from uhd_telephony.ami import names
from uhd_telephony.ami.snapshot import ChannelInfo, Snapshot
from uhd_telephony.calls import domain
from uhd_telephony.calls.records import CallRecord, Outcome, RingAttempt
from uhd_telephony.tenant import TenantLookup, number_map, resolve_tenant

TenantResolver = TenantLookup  # the tenants table's part of the tenant of a call (uhd_telephony.tenant.Hotlines)


@dataclass(slots=True)
class TrackerStats:
    events: int = 0
    ignored: int = 0
    duplicates: int = 0
    orphans: int = 0
    offered: int = 0
    finished: int = 0
    resynced: int = 0


@dataclass(slots=True)
class _Channel:
    """What the tracker remembers of any channel until it hangs up."""

    dialled: str = ""
    caller_number: str = ""
    caller_name: str = ""
    queue_app: str = ""  # queue named by the last Newexten Application=Queue
    queue_app_ts: float = 0.0
    variables: dict[str, str] = field(default_factory=dict)
    queued: bool = False  # a queue stay of this channel was recorded (entered, refused or rebuilt)
    announced_at: float | None = None  # a major incident's announcement began (UserEvent UhdIncident)
    announced_queue: str = ""  # the queue the caller would have entered
    subscribed: bool = False  # ... and the caller asked to be told when it is over
    channel: str = ""  # the channel's name and Linkedid, for a record made when the channel is gone (resync)
    linkedid: str = ""


@dataclass(slots=True)
class _Exit:
    """How a waiting call is leaving the queue, before the outcome is final."""

    left_at: float | None = None
    abandoned_at: float | None = None
    decided: Outcome | None = None  # from QUEUESTATUS
    hangup_at: float | None = None


class CallTracker:
    """Follows queue calls through typed AMI events and returns domain events for each change."""

    def __init__(
        self,
        *,
        short_abandon_s: float = 5.0,
        grace_s: float = 2.0,
        default_tenant: str = "default",
        tenant_numbers: dict[str, str] | None = None,
        tenant_queues: dict[str, str] | None = None,
        tenant_resolver: TenantResolver | None = None,
        max_channels: int = 100_000,
        max_finished: int = 20_000,
    ) -> None:
        self.short_abandon_s = short_abandon_s
        self.grace_s = grace_s
        self.default_tenant = default_tenant
        self.tenant_numbers = number_map(tenant_numbers)
        self.tenant_queues = dict(tenant_queues or {})
        self.tenant_resolver = tenant_resolver
        self.max_channels = max_channels
        self.max_finished = max_finished
        self.stats = TrackerStats()
        self.calls: dict[str, CallRecord] = {}  # active calls by call_id
        self._by_uniqueid: dict[str, str] = {}  # caller channel -> its active call_id
        self._channels: OrderedDict[str, _Channel] = OrderedDict()
        self._exits: dict[str, _Exit] = {}
        self._deadlines: dict[str, float] = {}  # call_id -> event time when it is finalised
        self._next_due = float("inf")  # no deadline is earlier: most events need not look at them
        # call_id -> (uniqueid, entered, ended)
        self._finished: OrderedDict[str, tuple[str, float, float]] = OrderedDict()
        self._hung_up: OrderedDict[str, float] = OrderedDict()  # recently hung-up channels -> Hangup time
        # callbacks whose caller answered (UserEvent UhdCallback) -> their tenant: one CallbackAnswered each, also
        # when Asterisk's event and a resync both report it (the store's update is idempotent too)
        self._callbacks_answered: OrderedDict[int, str] = OrderedDict()
        self._last_ts = 0.0
        self._last_wall: float | None = None
        self._handlers: dict[type, Callable[[object], list[domain.DomainEvent]]] = {
            ev.Newchannel: self._on_newchannel,  # type: ignore[dict-item]
            ev.NewCallerid: self._on_newcallerid,  # type: ignore[dict-item]
            ev.Newexten: self._on_newexten,  # type: ignore[dict-item]
            ev.VarSet: self._on_varset,  # type: ignore[dict-item]
            ev.Hangup: self._on_hangup,  # type: ignore[dict-item]
            ev.QueueCallerJoin: self._on_join,  # type: ignore[dict-item]
            ev.QueueCallerLeave: self._on_leave,  # type: ignore[dict-item]
            ev.QueueCallerAbandon: self._on_abandon,  # type: ignore[dict-item]
            ev.AgentCalled: self._on_agent_called,  # type: ignore[dict-item]
            ev.AgentRingNoAnswer: self._on_ring_no_answer,  # type: ignore[dict-item]
            ev.AgentConnect: self._on_connect,  # type: ignore[dict-item]
            ev.AgentComplete: self._on_complete,  # type: ignore[dict-item]
            ev.AgentDump: self._on_dump,  # type: ignore[dict-item]
            ev.UserEvent: self._on_userevent,  # type: ignore[dict-item]
            ev.BlindTransfer: self._on_blind_transfer,  # type: ignore[dict-item]
            ev.AttendedTransfer: self._on_attended_transfer,  # type: ignore[dict-item]
        }

    # ------------------------------------------------------------------ driving
    def handle(self, event: ev.AmiEvent, received: float | None = None) -> list[domain.DomainEvent]:
        """Apply one event; returns the domain events it caused (often none)."""
        self.stats.events += 1
        handler = self._handlers.get(type(event))
        if handler is None:
            # only the events the tracker reads move its clock: FullyBooted (sent at every login) has no Timestamp,
            # and this machine's receive time in its place would run ahead of Asterisk's clock when that is behind
            return []
        if event.ts > self._last_ts:
            self._last_ts = event.ts
            if received is not None:
                self._last_wall = received
        out = handler(event)
        if self._next_due <= self._last_ts:
            out.extend(self._expire(self._last_ts))
        return out

    def tick(self, wall_now: float | None = None) -> list[domain.CallEvent]:
        """Finalise calls whose grace period has passed. ``wall_now`` is this machine's time.time()."""
        now = self._last_ts
        if wall_now is not None and self._last_wall is not None:
            now += max(0.0, wall_now - self._last_wall)
        return self._expire(now)

    def flush(self) -> list[domain.CallEvent]:
        """End of input (a capture's end): finalise every call whose outcome is already known."""
        return self._expire(float("inf"))

    @property
    def now(self) -> float:
        """The latest event time seen."""
        return self._last_ts

    # ------------------------------------------------------------------ channels
    def _channel(self, uniqueid: str) -> _Channel:
        chan = self._channels.get(uniqueid)
        if chan is None:
            chan = self._channels[uniqueid] = _Channel()
            if len(self._channels) > self.max_channels:
                # a channel whose Hangup we never saw (AMI gap): forget the oldest
                self._channels.popitem(last=False)
        return chan

    def _on_newchannel(self, e: ev.Newchannel) -> list[domain.CallEvent]:
        chan = self._channel(e.uniqueid)
        if not chan.dialled:
            chan.dialled = e.exten
        if _known(e.caller_number):
            chan.caller_number = e.caller_number
        if _known(e.caller_name):
            chan.caller_name = e.caller_name
        return []

    def _on_newcallerid(self, e: ev.NewCallerid) -> list[domain.CallEvent]:
        # Originated channels show <unknown> in Newchannel; the real caller ID arrives here
        chan = self._channel(e.uniqueid)
        if _known(e.caller_number):
            chan.caller_number = e.caller_number
        if _known(e.caller_name):
            chan.caller_name = e.caller_name
        call = self._active(e.uniqueid)
        if call is not None and call.answered_at is None:
            # the caller ID changed while waiting (a redirect, a late CONNECTEDLINE): the record follows
            if _known(e.caller_number):
                call.caller_number = e.caller_number
            if _known(e.caller_name):
                call.caller_name = e.caller_name
        return []

    def _on_newexten(self, e: ev.Newexten) -> list[domain.CallEvent]:
        if e.application == "Queue":
            chan = self._channel(e.uniqueid)
            chan.queue_app = e.queue
            chan.queue_app_ts = e.ts
        return []

    def _on_varset(self, e: ev.VarSet) -> list[domain.CallEvent]:
        if e.variable == names.VAR_QUEUESTATUS:
            return self._on_queuestatus(e)
        if not e.variable.startswith(names.UHD_VAR_PREFIX):
            return []
        self._channel(e.uniqueid).variables[e.variable] = e.value
        call = self._active(e.uniqueid)
        if call is not None:
            call.variables[e.variable] = e.value
            if e.variable == names.VAR_TENANT and e.value:
                call.tenant = e.value
        return []

    def _on_queuestatus(self, e: ev.VarSet) -> list[domain.CallEvent]:
        status = e.value
        call = self._active(e.uniqueid)
        if call is None:
            if status in names.QUEUESTATUS_REFUSED:
                return self._refused(e)
            return []
        if call.answered_at is not None:
            return []  # Queue() returning after the agent hung up (option c): nothing new
        ex = self._exits.setdefault(call.call_id, _Exit())
        call.queue_status = status
        if status in names.QUEUESTATUS_TIMEOUT:
            ex.decided = Outcome.TIMEOUT
        elif status in names.QUEUESTATUS_LEFT_EMPTY:
            ex.decided = Outcome.OVERFLOW
        else:
            return []
        if ex.left_at is None:
            ex.left_at = ex.abandoned_at or e.ts
        self._due(call.call_id, e.ts + self.grace_s)
        return []

    def _refused(self, e: ev.VarSet) -> list[domain.CallEvent]:
        """JOINEMPTY & co.: no QueueCallerJoin at all, only Queue() starting and QUEUESTATUS."""
        chan = self._channels.get(e.uniqueid)
        queue = chan.queue_app if chan is not None else ""
        call = self._new_call(e, queue, e.ts, chan)
        call.queue_status = e.value
        call.wait_s = 0.0
        self._exits[call.call_id] = _Exit(left_at=e.ts, decided=Outcome.REFUSED)
        self._due(call.call_id, e.ts + self.grace_s)
        return [domain.CallOffered(call.snapshot(), e.ts)]

    def _on_hangup(self, e: ev.Hangup) -> list[domain.CallEvent]:
        chan = self._channels.pop(e.uniqueid, None)
        self._hung_up[e.uniqueid] = e.ts
        if len(self._hung_up) > self.max_finished:
            self._hung_up.popitem(last=False)
        call = self._active(e.uniqueid)
        if call is None:
            if chan is not None and _left_at_announcement(chan):
                return self._announcement_ended(e, chan, e.ts)
            return []
        ex = self._exits.setdefault(call.call_id, _Exit())
        ex.hangup_at = e.ts
        if call.answered_at is not None:
            # AgentComplete (with who hung up) may still follow the caller's Hangup: wait for it briefly
            self._due(call.call_id, e.ts + self.grace_s)
            return []
        return self._finish(call, self._unanswered_outcome(call, ex), e.ts)

    # ------------------------------------------------------------------ queue
    def _on_join(self, e: ev.QueueCallerJoin) -> list[domain.CallEvent]:
        out: list[domain.CallEvent] = []
        current = self._active(e.uniqueid)
        if current is not None:
            if current.queue == e.queue and current.entered_at == e.ts:
                self.stats.duplicates += 1
                return []
            # the same channel enters another queue (overflow chain, blind transfer): close the previous stay
            out.extend(self._finish_now(current, e.ts))
        base = f"{e.uniqueid}@{e.queue}"
        seen = self._finished.get(base)
        if seen is not None and seen[1] == e.ts:
            self.stats.duplicates += 1
            return out
        chan = self._channels.get(e.uniqueid)
        call = self._new_call(e, e.queue, e.ts, chan)
        call.position = e.position
        out.append(domain.CallOffered(call.snapshot(), e.ts))
        return out

    def _new_call(self, e: ev.ChannelEvent, queue: str, entered: float, chan: _Channel | None) -> CallRecord:
        base = f"{e.uniqueid}@{queue}"
        call_id = base
        n = 1
        while call_id in self._finished or call_id in self.calls:
            n += 1
            call_id = f"{base}#{n}"
        variables = dict(chan.variables) if chan is not None else {}
        if chan is not None:
            chan.queued = True
        # channelvars (ChanVariable) on the event itself: what a resync or an orphan event knows of the lookup
        for key, value in e.variables.items():
            if value and key.startswith(names.UHD_VAR_PREFIX):
                variables.setdefault(key, value)
        # the number dialled: the trunk's DID from Newchannel, else the hotline the dialplan recorded (a call
        # rebuilt after a gap: its CoreShowChannel Exten is a dialplan label such as "s", not a number)
        dialled = (chan.dialled if chan is not None else "") or variables.get(names.VAR_HOTLINE, "")
        number = e.caller_number if _known(e.caller_number) else (chan.caller_number if chan else "")
        name = e.caller_name if _known(e.caller_name) else (chan.caller_name if chan else "")
        call = CallRecord(
            call_id=call_id,
            linkedid=e.linkedid or e.uniqueid,
            uniqueid=e.uniqueid,
            queue=queue,
            tenant=self._tenant(dialled, queue, variables),
            entered_at=entered,
            channel=e.channel,
            caller_number=number,
            caller_name=name,
            dialled=dialled,
            variables=variables,
        )
        self.calls[call_id] = call
        self._by_uniqueid[e.uniqueid] = call_id
        self.stats.offered += 1
        return call

    def _tenant(self, dialled: str, queue: str, variables: dict[str, str]) -> str:
        return resolve_tenant(
            dialled,
            queue,
            variables,
            numbers=self.tenant_numbers,
            queues=self.tenant_queues,
            default=self.default_tenant,
            table=self.tenant_resolver,
        )

    def _on_leave(self, e: ev.QueueCallerLeave) -> list[domain.CallEvent]:
        call = self._active(e.uniqueid, e.queue)
        if call is None or call.answered_at is not None:
            return []
        ex = self._exits.setdefault(call.call_id, _Exit())
        if ex.left_at is None:
            ex.left_at = e.ts
        # on answer AgentConnect follows within microseconds; otherwise the caller left with a key (or hung up)
        if call.call_id not in self._deadlines:
            self._due(call.call_id, e.ts + self.grace_s)
        return []

    def _on_abandon(self, e: ev.QueueCallerAbandon) -> list[domain.CallEvent]:
        call = self._active(e.uniqueid, e.queue)
        if call is None and not e.variables.get(names.VAR_TENANT):
            # a caller never seen waiting, and the event does not say whose: not an abandoned call of the
            # fallback tenant. The queue_log backfill records it with its real entry time.
            if not self._is_finished(e.uniqueid, e.queue):
                self.stats.ignored += 1
            else:
                self.stats.duplicates += 1
            return []
        call = call or self._active_or_orphan(e, e.queue, e.ts - e.hold_time)
        if call is None:
            return []
        ex = self._exits.setdefault(call.call_id, _Exit())
        if ex.abandoned_at is not None:
            self.stats.duplicates += 1
            return []
        ex.abandoned_at = e.ts
        if ex.left_at is None:
            ex.left_at = e.ts
        _close_attempts(call, e.ts, "cancelled")
        self._due(call.call_id, e.ts + self.grace_s)
        return []

    def _on_agent_called(self, e: ev.AgentCalled) -> list[domain.CallEvent]:
        call = self._active(e.uniqueid, e.queue)
        if call is None:
            self.stats.orphans += 1
            return []
        for attempt in call.ring_attempts:
            if attempt.dest_channel == e.dest_channel and attempt.started_at == e.ts:
                self.stats.duplicates += 1
                return []
        call.ring_attempts.append(RingAttempt(e.interface, e.member_name, e.ts, dest_channel=e.dest_channel))
        return [domain.AgentRinging(call.snapshot(), e.ts, e.interface, e.member_name)]

    def _on_ring_no_answer(self, e: ev.AgentRingNoAnswer) -> list[domain.CallEvent]:
        call = self._active(e.uniqueid, e.queue)
        if call is None:
            self.stats.orphans += 1
            return []
        # a busy phone also yields AgentRingNoAnswer, with RingTime 0 (DialEnd BUSY)
        result = "busy" if e.ring_ms == 0 else "noanswer"
        attempt = _open_attempt(call, e.dest_channel, e.interface)
        if attempt is None:
            if any(a.dest_channel == e.dest_channel and a.result for a in call.ring_attempts):
                self.stats.duplicates += 1
                return []
            attempt = RingAttempt(e.interface, e.member_name, e.ts - e.ring_ms / 1000, dest_channel=e.dest_channel)
            call.ring_attempts.append(attempt)
        attempt.ended_at = e.ts
        attempt.result = result
        return [domain.AgentRingNoAnswer(call.snapshot(), e.ts, e.interface, e.member_name)]

    def _on_connect(self, e: ev.AgentConnect) -> list[domain.CallEvent]:
        if self._active(e.uniqueid, e.queue) is None and e.uniqueid in self._hung_up:
            # the caller's channel is gone already: a call never seen would stay "in progress" for good. The
            # AgentComplete that follows (with hold and talk time) records it, if it was not recorded already.
            self.stats.ignored += 1
            return []
        # a call we never saw enter (service started mid-call without resync): HoldTime says when it did
        call = self._active_or_orphan(e, e.queue, e.ts - e.hold_time)
        if call is None:
            return []
        if call.answered_at is not None:
            self.stats.duplicates += 1
            return []
        self._answer(call, e.ts, e.interface, e.member_name, e.dest_channel, e.ring_time)
        return [domain.CallAnswered(call.snapshot(), e.ts)]

    def _answer(self, call: CallRecord, ts: float, interface: str, member: str, dest: str, ring_s: float) -> None:
        call.answered_at = ts
        call.agent = member or interface
        call.agent_interface = interface
        call.wait_s = round(ts - call.entered_at, 3)
        self._deadlines.pop(call.call_id, None)
        self._exits.pop(call.call_id, None)
        attempt = _open_attempt(call, dest, interface)
        if attempt is None:
            attempt = RingAttempt(interface, member, ts - ring_s, dest_channel=dest)
            call.ring_attempts.append(attempt)
        attempt.ended_at = ts
        attempt.result = "answered"
        # ringall: every other phone still ringing was cancelled; credit only the agent of AgentConnect
        _close_attempts(call, ts, "cancelled")

    def _on_complete(self, e: ev.AgentComplete) -> list[domain.CallEvent]:
        if not e.uniqueid:
            # Asterisk 22 sometimes repeats an AgentComplete without any caller channel for a call that has
            # completed already: it completes the member's call in progress if there is one, never a new call
            call = self._answered_by(e.queue, e.interface, e.ts - e.talk_time)
            if call is None:
                self.stats.ignored += 1
                return []
        else:
            call = self._active_or_orphan(e, e.queue, e.ts - e.talk_time - e.hold_time)
        if call is None:
            return []
        if call.answered_at is None:
            self._answer(call, e.ts - e.talk_time, e.interface, e.member_name, e.dest_channel, 0)
        call.ended_by = e.reason or None
        outcome = Outcome.TRANSFERRED if e.reason == "transfer" or call.transferred_to else Outcome.ANSWERED
        return self._finish(call, outcome, e.ts)

    def _on_dump(self, e: ev.AgentDump) -> list[domain.CallEvent]:
        call = self._active(e.uniqueid, e.queue)
        if call is not None:
            attempt = _open_attempt(call, e.dest_channel, e.interface)
            if attempt is not None:
                attempt.ended_at = e.ts
                attempt.result = "dumped"
        return []

    def _on_userevent(self, e: ev.UserEvent) -> list[domain.DomainEvent]:
        if e.user_event == names.USEREVENT_UHD_CALLBACK:
            return self._callback_stage(e)
        if e.user_event == names.USEREVENT_CALLBACK:
            call = self._active(e.uniqueid)
            if call is None:
                self.stats.ignored += 1
                return []
            if call.callback_requested:
                self.stats.duplicates += 1
                return []
            call.callback_requested = True
            return [domain.CallbackRequested(call.snapshot(), e.ts, e.headers.get("Reason", ""))]
        if e.user_event == names.USEREVENT_CLOSED:
            return [*self._closed(e)]
        if e.user_event == names.USEREVENT_INCIDENT:
            return [*self._announcement(e)]
        return []

    def _callback_stage(self, e: ev.UserEvent) -> list[domain.DomainEvent]:
        """``UhdCallback`` on a callback's caller channel: ``Stage: answered`` once the caller picked up."""
        if e.headers.get("Stage", "") != names.CALLBACK_ANSWERED:
            self.stats.ignored += 1
            return []
        return self._callback_answered(e.headers.get("CallbackId", ""), e.headers.get("Tenant", ""), e.ts,
                                       e.channel, e.uniqueid, resynced=False)  # fmt: skip

    def _callback_answered(
        self, raw_id: str, tenant: str, at: float, channel: str, uniqueid: str, *, resynced: bool
    ) -> list[domain.DomainEvent]:
        raw_id = raw_id.strip()
        # the dialplan's ${UHD_CALLBACK_ID}: the entry's id, digits only (anything else is no callback of ours)
        if not raw_id.isascii() or not raw_id.isdigit() or len(raw_id) > 18:
            self.stats.ignored += 1
            return []
        callback_id = int(raw_id)
        if callback_id in self._callbacks_answered:
            self.stats.duplicates += 1
            return []
        self._callbacks_answered[callback_id] = tenant
        if len(self._callbacks_answered) > self.max_finished:
            self._callbacks_answered.popitem(last=False)
        return [domain.CallbackAnswered(callback_id, tenant.strip(), at, channel, uniqueid, resynced)]

    def _announcement(self, e: ev.UserEvent) -> list[domain.CallEvent]:
        """A major incident's announcement on a channel: ``announced`` as it starts, ``subscribed`` after the key."""
        stage = e.headers.get("Stage", "")
        if stage not in (names.INCIDENT_ANNOUNCED, names.INCIDENT_SUBSCRIBED) or not e.uniqueid:
            self.stats.ignored += 1
            return []
        chan = self._channel(e.uniqueid)
        seen = chan.subscribed if stage == names.INCIDENT_SUBSCRIBED else chan.announced_at is not None
        if seen:
            self.stats.duplicates += 1
            return []
        if chan.announced_at is None:  # also a "subscribed" whose "announced" was missed (an AMI gap)
            chan.announced_at = e.ts
            chan.channel, chan.linkedid = e.channel, e.linkedid
        chan.announced_queue = chan.announced_queue or e.headers.get("Queue", "")
        chan.subscribed = chan.subscribed or stage == names.INCIDENT_SUBSCRIBED
        return []

    def _announcement_ended(
        self, e: ev.ChannelEvent, chan: _Channel, ended: float, *, resynced: bool = False
    ) -> list[domain.CallEvent]:
        """The caller hung up at the announcement, never in a queue: a record of its own, never offered."""
        assert chan.announced_at is not None
        call = self._new_call(e, chan.announced_queue, chan.announced_at, chan)
        call.wait_s = 0.0
        call.resynced = resynced
        self.stats.offered -= 1  # not offered to a queue
        outcome = Outcome.INCIDENT_SUBSCRIBED if chan.subscribed else Outcome.INCIDENT_LEFT
        return self._finish(call, outcome, ended)

    def _closed(self, e: ev.UserEvent) -> list[domain.CallEvent]:
        """The hotline was called outside business hours: a record of its own, never offered to a queue."""
        queue = e.headers.get("Queue", "")
        chan = self._channels.get(e.uniqueid)
        call = self._new_call(ev.ChannelEvent(e.ts, e.channel, e.uniqueid, e.linkedid, "", ""), queue, e.ts, chan)
        if e.headers.get("Tenant"):
            call.tenant = e.headers["Tenant"]
        call.wait_s = 0.0
        self.stats.offered -= 1  # not offered to a queue
        return self._finish(call, Outcome.CLOSED, e.ts)

    def _on_blind_transfer(self, e: ev.BlindTransfer) -> list[domain.CallEvent]:
        call = self._active(e.transferee_uniqueid)
        if call is not None and call.answered_at is not None and e.result == "Success":
            call.transferred_to = f"{e.extension}@{e.context}" if e.context else e.extension
        return []

    def _on_attended_transfer(self, e: ev.AttendedTransfer) -> list[domain.CallEvent]:
        call = self._active(e.transferee_uniqueid)
        if call is not None and call.answered_at is not None and e.result == "Success":
            call.transferred_to = e.dest_type or "attended"
        return []

    # ------------------------------------------------------------------ finishing
    def _active(self, uniqueid: str, queue: str | None = None) -> CallRecord | None:
        call_id = self._by_uniqueid.get(uniqueid)
        if call_id is None:
            return None
        call = self.calls.get(call_id)
        if call is None or (queue is not None and call.queue != queue):
            return None
        return call

    def _is_finished(self, uniqueid: str, queue: str) -> bool:
        return f"{uniqueid}@{queue}" in self._finished

    def _answered_by(self, queue: str, interface: str, answered: float) -> CallRecord | None:
        """The call in progress that ``interface`` answered in ``queue`` at about ``answered`` (whole seconds)."""
        for call in self.calls.values():
            if (
                call.queue == queue
                and call.answered_at is not None
                and call.agent_interface == interface
                and abs(call.answered_at - answered) <= 1.5
            ):
                return call
        return None

    def _active_or_orphan(self, e: ev.ChannelEvent, queue: str, entered: float) -> CallRecord | None:
        """The call an event belongs to; for a call never seen entering, one rebuilt from the event's times.

        None when the event repeats one of a call already finished (a duplicate or a late straggler).
        """
        call = self._active(e.uniqueid, queue)
        if call is not None:
            return call
        if not e.uniqueid:
            self.stats.ignored += 1  # an event without a caller channel never makes a call
            return None
        if self._is_finished(e.uniqueid, queue):
            self.stats.duplicates += 1
            return None
        self.stats.orphans += 1
        call = self._new_call(e, queue, entered, self._channels.get(e.uniqueid))
        call.resynced = True
        return call

    def _unanswered_outcome(self, call: CallRecord, ex: _Exit) -> Outcome:
        if ex.decided is not None:
            return ex.decided
        if ex.abandoned_at is None and ex.left_at is not None:
            # QueueCallerLeave without Abandon or Connect: the caller pressed a key (queue context=)
            return Outcome.CALLBACK if call.callback_requested else Outcome.EXIT_KEY
        left = ex.abandoned_at or ex.left_at or ex.hangup_at or call.entered_at
        return Outcome.SHORT_ABANDON if left - call.entered_at < self.short_abandon_s else Outcome.ABANDONED

    def _finish_now(self, call: CallRecord, ts: float) -> list[domain.CallEvent]:
        ex = self._exits.get(call.call_id) or _Exit()
        if call.answered_at is not None:
            return self._finish(call, Outcome.TRANSFERRED if call.transferred_to else Outcome.ANSWERED, ts)
        return self._finish(call, self._unanswered_outcome(call, ex), ts)

    def _due(self, call_id: str, at: float) -> None:
        """The call is finalised once the event time reaches ``at``."""
        self._deadlines[call_id] = at
        if at < self._next_due:
            self._next_due = at

    def _expire(self, now: float) -> list[domain.CallEvent]:
        due = [cid for cid, deadline in self._deadlines.items() if deadline <= now]
        out: list[domain.CallEvent] = []
        for call_id in due:
            call = self.calls.get(call_id)
            if call is None:
                self._deadlines.pop(call_id, None)
                continue
            ex = self._exits.get(call_id) or _Exit()
            # an answered call ends when its caller hung up, an unanswered one when it left the queue
            ended = ex.hangup_at if call.answered_at is not None else ex.left_at
            out.extend(self._finish_now(call, ended or now))
        self._next_due = min(self._deadlines.values(), default=float("inf"))
        return out

    def _finish(self, call: CallRecord, outcome: Outcome, ended: float) -> list[domain.CallEvent]:
        ex = self._exits.pop(call.call_id, None)
        self._deadlines.pop(call.call_id, None)
        self.calls.pop(call.call_id, None)
        if self._by_uniqueid.get(call.uniqueid) == call.call_id:
            del self._by_uniqueid[call.uniqueid]
        call.outcome = outcome
        # entered <= answered <= ended whatever clock a time came from (a resync's wall clock, a restored record)
        if call.answered_at is not None and call.answered_at < call.entered_at:
            call.answered_at = call.entered_at
            call.wait_s = 0.0
        ended = max(ended, call.answered_at if call.answered_at is not None else call.entered_at)
        call.ended_at = ended
        if call.answered_at is not None:
            call.talk_s = round(max(0.0, ended - call.answered_at), 3)
        elif call.wait_s is None:
            left = (ex.abandoned_at or ex.left_at) if ex is not None else None
            call.wait_s = round(max(0.0, (left or ended) - call.entered_at), 3)
        _close_attempts(call, ended, "cancelled")
        self._finished[call.call_id] = (call.uniqueid, call.entered_at, ended)
        if len(self._finished) > self.max_finished:
            self._finished.popitem(last=False)
        self.stats.finished += 1
        final = call  # out of the tracker now: nothing changes it any more, no copy needed
        out: list[domain.CallEvent] = []
        if outcome in (Outcome.ABANDONED, Outcome.SHORT_ABANDON):
            out.append(domain.CallAbandoned(final, ended))
        elif outcome in (Outcome.TIMEOUT, Outcome.OVERFLOW, Outcome.REFUSED):
            out.append(domain.CallTimedOut(final, ended))
        out.append(domain.CallEnded(final, ended))
        return out

    # ------------------------------------------------------------------ restart and resync
    def restore(self, records: Iterable[CallRecord]) -> None:
        """Take back calls the store holds as in progress (after a service restart), before a resync."""
        for record in records:
            if record.finished or record.call_id in self.calls:
                continue
            self.calls[record.call_id] = record
            self._by_uniqueid[record.uniqueid] = record.call_id

    def resync(self, snap: Snapshot) -> list[domain.DomainEvent]:
        """Reconcile with what Asterisk says is live now (after a reconnect or a restart).

        The lists are answered while events keep coming on the same connection, and the events read before this
        runs (in the same read as the last list's end, or between the lists) are newer than the lists: with the
        snapshot's time on Asterisk's clock (the Pong before the lists), a stay that entered after it is left to
        its events, and a listed stay the events have ended since (its channel hung up, or the stay ended at or
        after that time) is not rebuilt.

        A live channel carrying ``UHD_CALLBACK_REACHED`` is a callback's caller who answered: reported as
        ``CallbackAnswered`` at the snapshot's time unless its UserEvent was seen (its event was lost in the gap).
        """
        out: list[domain.DomainEvent] = []
        out.extend(self.flush())  # outcomes already known need no more waiting
        since = snap.asterisk_time
        # every time of a call is on Asterisk's clock: the snapshot's too (never before the last event seen)
        now = max(snap.now, self._last_ts)
        waiting = {(q.uniqueid, q.queue): q for q in snap.entries}
        by_uniqueid = {c.uniqueid: c for c in snap.channels}
        bridges: dict[str, list[ChannelInfo]] = {}
        for c in snap.channels:
            if c.bridge_id:
                bridges.setdefault(c.bridge_id, []).append(c)
        talking: dict[tuple[str, str], tuple[ChannelInfo, ChannelInfo | None]] = {}
        for c in snap.channels:
            queue = c.queue
            if queue and c.bridge_id:
                peer = next((p for p in bridges[c.bridge_id] if p.uniqueid != c.uniqueid), None)
                talking[(c.uniqueid, queue)] = (c, peer)
        members = {m.interface: m.member_name for m in snap.members}

        for call in list(self.calls.values()):
            if since is not None and call.entered_at > since:
                continue  # seen entering after the snapshot was taken: the lists cannot know it yet
            key = (call.uniqueid, call.queue)
            info = by_uniqueid.get(call.uniqueid)
            if info is not None:
                self._learn(call, info.variables)
            if key in waiting:
                continue
            if key in talking:
                if call.answered_at is None:
                    caller, peer = talking[key]
                    out.extend(self._resync_answer(call, now, peer, members))
                continue
            # gone from the queue while we could not see it
            self.stats.resynced += 1
            call.resynced = True
            ex = self._exits.get(call.call_id)
            if call.answered_at is not None:
                out.extend(self._finish(call, Outcome.TRANSFERRED if call.transferred_to else Outcome.ANSWERED, now))
            elif ex is not None and (ex.decided or ex.abandoned_at):
                out.extend(self._finish(call, self._unanswered_outcome(call, ex), ex.left_at or now))
            else:
                out.extend(self._finish(call, Outcome.UNKNOWN, now))

        out.extend(self._announcements_gone(by_uniqueid, since, now))
        for entry in waiting.values():
            if self._active(entry.uniqueid, entry.queue) is not None or self._ended_since(
                entry.uniqueid, entry.queue, since
            ):
                continue
            chan_info = by_uniqueid.get(entry.uniqueid)
            fake = ev.ChannelEvent(
                now,
                entry.channel,
                entry.uniqueid,
                chan_info.linkedid if chan_info else entry.linkedid,
                entry.caller_number,
                entry.caller_name,
                variables=chan_info.variables if chan_info else {},
            )
            call = self._new_call(fake, entry.queue, now - entry.wait_s, self._channels.get(entry.uniqueid))
            call.position = entry.position
            call.resynced = True
            self.stats.resynced += 1
            out.append(domain.CallOffered(call.snapshot(), now))
        for (uniqueid, queue), (caller, peer) in talking.items():
            if self._active(uniqueid, queue) is not None or self._ended_since(uniqueid, queue, since):
                continue
            fake = ev.ChannelEvent(
                now,
                caller.channel,
                uniqueid,
                caller.linkedid,
                caller.caller_number,
                caller.caller_name,
                variables=caller.variables,
            )
            call = self._new_call(fake, queue, now - caller.duration_s, self._channels.get(uniqueid))
            call.resynced = True
            self.stats.resynced += 1
            out.append(domain.CallOffered(call.snapshot(), now))
            out.extend(self._resync_answer(call, now, peer, members))
        for c in snap.channels:
            reached = c.variables.get(names.VAR_CALLBACK_REACHED, "")
            if reached:
                tenant = c.variables.get(names.VAR_TENANT, "")
                out.extend(self._callback_answered(reached, tenant, now, c.channel, c.uniqueid, resynced=True))
        return out

    def _announcements_gone(
        self, alive: dict[str, ChannelInfo], since: float | None, now: float
    ) -> list[domain.CallEvent]:
        """Callers at a major incident's announcement whose channel the snapshot no longer lists: they hung up
        while the tracker could not see it. One who pressed the key is ``incident_subscribed``; any other is
        recorded ``incident_left``, marked ``resynced``: had they gone on into a queue in the gap, the queue_log
        backfill completes the record with what happened there (calls/backfill.py)."""
        out: list[domain.CallEvent] = []
        for uniqueid, chan in list(self._channels.items()):
            if uniqueid in alive or not _left_at_announcement(chan):
                continue
            assert chan.announced_at is not None
            if since is not None and chan.announced_at > since:
                continue  # announced after the snapshot was taken: the lists cannot know it yet
            del self._channels[uniqueid]
            gone = ev.ChannelEvent(now, chan.channel, uniqueid, chan.linkedid, chan.caller_number, chan.caller_name)
            self.stats.resynced += 1
            out.extend(self._announcement_ended(gone, chan, now, resynced=True))
        return out

    def _ended_since(self, uniqueid: str, queue: str, since: float | None) -> bool:
        """Whether the events ended what a snapshot taken at ``since`` lists of this channel in this queue: the
        channel hung up (whenever: a snapshot cannot list a channel gone before it), or a stay of it in this queue
        ended at or after ``since``."""
        if uniqueid in self._hung_up:
            return True
        if since is None:
            return False
        base = f"{uniqueid}@{queue}"
        call_id, n = base, 1
        while (seen := self._finished.get(call_id)) is not None:
            if seen[2] >= since:
                return True
            n += 1
            call_id = f"{base}#{n}"
        return False

    def _learn(self, call: CallRecord, variables: dict[str, str]) -> None:
        """Lookup variables a snapshot shows for a call in progress (one restored or rebuilt without them)."""
        for key, value in variables.items():
            if value and key.startswith(names.UHD_VAR_PREFIX) and not call.variables.get(key):
                call.variables[key] = value
        tenant = variables.get(names.VAR_TENANT)
        if tenant and call.tenant != tenant:
            call.tenant = tenant
        if not call.dialled and variables.get(names.VAR_HOTLINE):
            call.dialled = variables[names.VAR_HOTLINE]

    def _resync_answer(
        self, call: CallRecord, now: float, peer: ChannelInfo | None, members: dict[str, str]
    ) -> list[domain.CallEvent]:
        interface = _interface_of(peer.channel, members) if peer is not None else ""
        # the agent leg's age bounds when it was answered from below; the caller's wait cannot be negative
        answered = max(call.entered_at, now - (peer.duration_s if peer is not None else 0))
        call.resynced = True
        self._answer(call, answered, interface, members.get(interface, ""), peer.channel if peer else "", 0)
        return [domain.CallAnswered(call.snapshot(), now)]


def _known(value: str) -> bool:
    return bool(value) and value != "<unknown>"


def _left_at_announcement(chan: _Channel) -> bool:
    """The channel heard a major incident's announcement and never entered a queue."""
    return chan.announced_at is not None and not chan.queued and not chan.queue_app


def _open_attempt(call: CallRecord, dest_channel: str, interface: str) -> RingAttempt | None:
    for attempt in reversed(call.ring_attempts):
        if attempt.result is None and (attempt.dest_channel == dest_channel or not dest_channel):
            return attempt
    for attempt in reversed(call.ring_attempts):
        if attempt.result is None and attempt.interface == interface:
            return attempt
    return None


def _close_attempts(call: CallRecord, ts: float, result: str) -> None:
    for attempt in call.ring_attempts:
        if attempt.result is None:
            attempt.ended_at = ts
            attempt.result = result


def _interface_of(channel: str, members: dict[str, str]) -> str:
    """The queue member interface a live agent channel belongs to (PJSIP/101-0000001b -> PJSIP/101)."""
    for interface in members:
        stem = interface[:-2] if interface.endswith("/n") else interface
        if channel.startswith(stem + "-") or channel == stem:
            return interface
    return channel.rsplit("-", 1)[0] if "-" in channel else channel
