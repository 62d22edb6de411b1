"""A major incident's announcement before the queue, as the production dialplan plays it (dialplan/extensions.conf
``[uhd-incident]``), with the AMI events Asterisk 22 sends for it.

The PBX knows a tenant's open incidents (``Pbx.incidents``: the UHD_INCIDENT and UHD_INCIDENT_PROMPT the AGI lookup
would set; ``simulator.incidents.IncidentDesk`` keeps them from the database, a test may set them). A call of that
tenant then, after the lookup's SET VARIABLEs::

    Gosub(uhd-incident,s,1(<queue>,<tenant>))
      UserEvent(UhdIncident,Queue: <queue>,Stage: announced)      -> Event: UserEvent (channel block, Queue, Stage)
      Set(INCIDENT_KEY=)
      GotoIf(<withheld>?inform) x2
      Read(INCIDENT_KEY,<prompts>&custom/uhd-incident-press-1,1,,1,4)
        "subscribe": key 1 -> AGI(uhd-subscribe.agi,<tenant>,<linkedid>) -> UHD_INCIDENT_SUBSCRIBED=1
                      -> UserEvent (Stage: subscribed) -> Playback(custom/uhd-incident-subscribed) -> Hangup
        "hangup":    the caller hangs up during the announcement (HangupRequest, Hangup)
        "queue":     no key (READSTATUS=TIMEOUT) -> Return -> the queue as without an incident
      (withheld: Playback(<prompts>) -> Return -> the queue; no key is offered)

Nothing of it reaches the queue_log (app_queue never saw the caller). The ground truth gets the record the tracker
must make: ``incident_subscribed`` or ``incident_left``, never offered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from uhd_telephony.ami import names
from uhd_telephony.incidents.announcement import KEY_PROMPT, SUBSCRIBED_PROMPT

if TYPE_CHECKING:
    from uhd_telephony.simulator.callflow import QueueCall

CONTEXT = "uhd-incident"
SUBSCRIBE_AGI = "uhd-subscribe.agi"
KEY_TIMEOUT_S = 4  # INCIDENT_TIMEOUT in dialplan/extensions.conf
CONFIRMATION_S = 5.0  # how long custom/uhd-incident-subscribed plays
SUBSCRIBE_AGI_S = 0.8  # the subscription AGI loads SQLAlchemy and writes: under a second
# the priorities of [uhd-incident]'s labels "inform" and "subscribe" (dialplan/extensions.conf)
INFORM, SUBSCRIBE_PRIORITY = 8, 10
# what a caller does at the announcement
QUEUE, SUBSCRIBE, HANGUP = "queue", "subscribe", "hangup"
CHOICES = (QUEUE, SUBSCRIBE, HANGUP)


def announce(call: QueueCall) -> None:
    """The lookup found open incidents: jump into ``[uhd-incident]`` and play them; the caller's choice follows."""
    pbx, ch = call.pbx, call.ch
    ids, prompts = pbx.incidents[call.hotline.tenant]
    call.state = "announcement"
    call.incident_ids = ids
    call._app("GotoIf", "0?menu")
    call._app("Gosub", f"{CONTEXT},s,1({call.queue_name},{call.hotline.tenant})")
    call.return_to = (ch.context, ch.exten, call.next_prio)
    ch.goto(CONTEXT, "s", 1)
    call.next_prio = 1
    call._app("UserEvent", f"{names.USEREVENT_INCIDENT},Queue: {call.queue_name},Stage: {names.INCIDENT_ANNOUNCED}")
    pbx.em.user_event(ch, names.USEREVENT_INCIDENT, (("Queue", call.queue_name), ("Stage", names.INCIDENT_ANNOUNCED)))
    call.announced_at = pbx.clock.now()
    for hook in pbx.on_announced:
        hook(call.hotline.tenant, ids)
    call._set("INCIDENT_KEY", "")
    call._app("GotoIf", f"{int(call.withheld)}?inform")
    if call.withheld:  # nobody to tell when it is over: the announcement alone (a hang-up still ends it)
        call.next_prio = INFORM
        call._app("Playback", prompts)
        call.later(call.listen_s, lambda: leave(call) if call.at_announcement == HANGUP else _return(call))
        return
    call._app("GotoIf", "0?inform")
    call._app("Read", f"INCIDENT_KEY,{prompts}&{KEY_PROMPT},1,,1,{KEY_TIMEOUT_S}")
    if call.at_announcement == SUBSCRIBE:
        call.later(call.listen_s, lambda: _pressed(call))
    elif call.at_announcement == HANGUP:
        call.later(call.listen_s, lambda: leave(call))
    else:
        call.later(call.listen_s + KEY_TIMEOUT_S, lambda: _no_key(call))


def _no_key(call: QueueCall) -> None:
    em, ch = call.pbx.em, call.ch
    em.varset(ch, "READSTATUS", "TIMEOUT")
    call._app("GotoIf", "0?subscribe")
    _return(call)


def _return(call: QueueCall) -> None:
    """``Return()`` to the hotline, then on to the queue as without an incident."""
    call._app("Return")
    context, exten, priority = call.return_to
    call.ch.goto(context, exten, priority)
    call.next_prio = priority
    call.state = "dialplan"
    call.continue_to_queue()


def _pressed(call: QueueCall) -> None:
    """Key 1: the subscription AGI records it (the PBX's ``on_subscribed`` hooks), then the confirmation."""
    pbx, ch, em = call.pbx, call.ch, call.pbx.em
    em.varset(ch, "INCIDENT_KEY", "1")
    em.varset(ch, "READSTATUS", "OK")
    call._app("GotoIf", "1?subscribe")
    call.next_prio = SUBSCRIBE_PRIORITY
    call._app("AGI", f"{SUBSCRIBE_AGI},{call.hotline.tenant},{ch.linkedid}")
    command_id = pbx.rng.randrange(10_000_000, 99_999_999)
    get = f"GET VARIABLE {names.VAR_INCIDENT}"
    em.agi_exec(ch, command_id, get)
    em.agi_exec(ch, command_id, get, f"1 ({call.incident_ids})")
    call.later(SUBSCRIBE_AGI_S, lambda: _subscribed(call, command_id + 1))


def _subscribed(call: QueueCall, command_id: int) -> None:
    pbx, ch, em = call.pbx, call.ch, call.pbx.em
    for hook in pbx.on_subscribed:
        hook(call.hotline.tenant, call.incident_ids, call.number, call.name, ch.linkedid)
    command = f'SET VARIABLE {names.VAR_INCIDENT_SUBSCRIBED} "1"'
    em.agi_exec(ch, command_id, command)
    em.varset(ch, names.VAR_INCIDENT_SUBSCRIBED, "1")
    em.agi_exec(ch, command_id, command, "Success")
    em.varset(ch, "AGISTATUS", "SUCCESS")
    call._app("GotoIf", "0?return")
    call.subscribed = True
    call._app("UserEvent", f"{names.USEREVENT_INCIDENT},Queue: {call.queue_name},Stage: {names.INCIDENT_SUBSCRIBED}")
    em.user_event(ch, names.USEREVENT_INCIDENT, (("Queue", call.queue_name), ("Stage", names.INCIDENT_SUBSCRIBED)))
    call._app("Playback", SUBSCRIBED_PROMPT)
    call.later(CONFIRMATION_S, lambda: _hang_up(call))


def _hang_up(call: QueueCall) -> None:
    """The dialplan's ``Hangup()`` after the confirmation."""
    call._app("Hangup")
    _finish(call, soft_first=True)


def leave(call: QueueCall) -> None:
    """The caller hangs up during the announcement (or an AMI Hangup ends the channel there)."""
    call.pbx.em.hangup_request(call.ch)
    _finish(call, soft_first=False)


def _finish(call: QueueCall, *, soft_first: bool) -> None:
    pbx, ch = call.pbx, call.ch
    now = pbx.clock.now()
    call.record = {
        "uniqueid": ch.uniqueid,
        "linkedid": ch.linkedid,
        "channel": ch.name,
        "tenant": call.hotline.tenant,
        "dialled": call.hotline.number,
        "queue": call.queue_name,
        "caller_number": ch.cid_num,
        "caller_name": ch.cid_name,
        "entered_at": round(call.announced_at, 6),
        "outcome": "incident_subscribed" if call.subscribed else "incident_left",
        "agent": None,
        "agent_interface": None,
        "wait_s": 0.0,
        "talk_s": None,
        "ended_by": "caller",
        "rings": 0,
        "callback_requested": False,
        "ended_at": round(now, 6),
        "incidents": call.incident_ids,
    }
    call.finish_record()
    call.hangup_caller(soft_first=soft_first)
