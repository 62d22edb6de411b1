"""The AMI actions the simulated PBX answers (beyond Login/Logoff/Ping/Events), with Asterisk 22's replies.

Replies come before the events an action causes (``Interface paused successfully``, then DeviceStateChange and
QueueMemberPause), which is why each handler validates, responds, and only then changes the PBX.
"""

from __future__ import annotations

from collections.abc import Callable

from uhd_telephony.simulator.pbx import Pbx, PbxError
from uhd_telephony.simulator.protocol import Action, AmiSession

Handler = Callable[[Pbx, AmiSession, Action], None]


def _queue_status(pbx: Pbx, s: AmiSession, a: Action) -> None:
    items = pbx.queue_status(a.get("queue") or None, a.get("member") or None)
    s.send_list(a, "Queue status will follow", items, "QueueStatusComplete")


def _queue_summary(pbx: Pbx, s: AmiSession, a: Action) -> None:
    s.send_list(a, "Queue summary will follow", pbx.queue_summary(a.get("queue") or None), "QueueSummaryComplete")


def _core_show_channels(pbx: Pbx, s: AmiSession, a: Action) -> None:
    items = pbx.core_show_channels()
    s.send_list(a, "Channels will follow", items, "CoreShowChannelsComplete", event="CoreShowChannel")


def _queue_pause(pbx: Pbx, s: AmiSession, a: Action) -> None:
    interface, paused = a.get("interface"), a.get("paused")
    if not interface or not paused:
        s.respond(a, "Error", "Need 'Interface' and 'Paused' parameters.")
        return
    pause = a.flag("paused")
    queue = a.get("queue") or None
    try:
        pbx.members_of(interface, queue)
    except PbxError:
        s.respond(a, "Error", "Interface not found")
        return
    s.respond(a, "Success", "Interface paused successfully" if pause else "Interface unpaused successfully")
    pbx.pause(interface, pause, a.get("reason"), queue)


def _queue_add(pbx: Pbx, s: AmiSession, a: Action) -> None:
    queue, interface = a.get("queue"), a.get("interface")
    if not queue or not interface:
        s.respond(a, "Error", "'Queue' and 'Interface' not specified.")
        return
    if queue not in pbx.queues:
        s.respond(a, "Error", "Unable to add interface to queue: No such queue")
        return
    if interface in pbx.queues[queue].members:
        s.respond(a, "Error", "Unable to add interface: Already there")
        return
    try:
        penalty = int(a.get("penalty") or 0)
    except ValueError:
        penalty = 0
    s.respond(a, "Success", "Added interface to queue")
    pbx.add_member(
        queue, interface, a.get("membername"), penalty=penalty, paused=a.flag("paused"), reason=a.get("reason")
    )


def _queue_remove(pbx: Pbx, s: AmiSession, a: Action) -> None:
    queue, interface = a.get("queue"), a.get("interface")
    if not queue or not interface:
        s.respond(a, "Error", "Need 'Queue' and 'Interface' parameters.")
        return
    if queue not in pbx.queues:
        s.respond(a, "Error", "Unable to remove interface from queue: No such queue")
        return
    if interface not in pbx.queues[queue].members:
        s.respond(a, "Error", "Unable to remove interface: Not there")
        return
    s.respond(a, "Success", "Removed interface from queue")
    pbx.remove_member(queue, interface)


def _queue_penalty(pbx: Pbx, s: AmiSession, a: Action) -> None:
    interface, queue = a.get("interface"), a.get("queue") or None
    try:
        penalty = int(a.get("penalty"))
        pbx.members_of(interface, queue)
    except (ValueError, PbxError):
        s.respond(a, "Error", "Invalid interface, queuename or penalty")
        return
    s.respond(a, "Success", "Interface penalty set successfully")
    pbx.set_penalty(interface, penalty, queue)


def _queue_ringinuse(pbx: Pbx, s: AmiSession, a: Action) -> None:
    interface, queue = a.get("interface"), a.get("queue") or None
    try:
        pbx.members_of(interface, queue)
    except PbxError:
        s.respond(a, "Error", "Invalid interface, queuename, or ringinuse value")
        return
    s.respond(a, "Success", "Interface ringinuse set successfully")
    pbx.set_ringinuse(interface, a.flag("ringinuse"), queue)


def parse_callerid(value: str) -> tuple[str, str] | None:
    """``"Name" <number>`` (either part optional), as ast_callerid_parse splits it."""
    value = value.strip()
    if not value:
        return None
    if "<" in value and value.endswith(">"):
        name, _, number = value[:-1].partition("<")
        return number.strip(), name.strip().strip('"')
    if value.startswith('"'):
        return "", value.strip('"')
    if any(c.isdigit() for c in value) and " " not in value:
        return value, ""
    return "", value


def _originate(pbx: Pbx, s: AmiSession, a: Action) -> None:
    channel = a.get("channel")
    if not channel:
        s.respond(a, "Error", "Channel not specified")
        return
    if "/" not in channel:
        s.respond(a, "Error", "Invalid channel")
        return
    if not a.get("application") and not a.get("exten"):
        s.respond(a, "Error", "Extension not specified")
        return
    try:
        timeout_s = int(a.get("timeout") or 30000) / 1000.0
        priority = int(a.get("priority") or 1)
    except ValueError:
        s.respond(a, "Error", "Invalid timeout or priority")
        return
    variables = {}
    for item in a.getall("variable"):
        for pair in item.split(","):
            name, sep, value = pair.partition("=")
            if sep:
                variables[name.strip()] = value
    # Async or not, the reply comes first and the outcome arrives as OriginateResponse (the simulator never
    # blocks the session the way a synchronous Originate blocks a real manager thread)
    s.respond(a, "Success", "Originate successfully queued")
    pbx.originate(
        channel=channel,
        context=a.get("context"),
        exten=a.get("exten"),
        priority=priority,
        application=a.get("application"),
        data=a.get("data"),
        callerid=parse_callerid(a.get("callerid")),
        timeout_s=timeout_s,
        action_id=a.action_id,
        variables=variables,
        channel_id=a.get("channelid") or None,
    )


def _hangup(pbx: Pbx, s: AmiSession, a: Action) -> None:
    channel = a.get("channel")
    if not channel:
        s.respond(a, "Error", "No channel specified")
        return
    if channel not in pbx.channels:
        s.respond(a, "Error", "No such channel")
        return
    s.respond(a, "Success", "Channel Hungup")
    pbx.hangup(channel)


def _blind_transfer(pbx: Pbx, s: AmiSession, a: Action) -> None:
    channel, context, exten = a.get("channel"), a.get("context"), a.get("exten")
    if not channel:
        s.respond(a, "Error", "No channel specified")
        return
    if not exten:
        s.respond(a, "Error", "No extension specified")
        return
    call = pbx.find_call(channel)
    if call is None or not call.talking:
        s.respond(a, "Error", "No such channel")
        return
    targets = {q.cfg.context for q in pbx.queues.values()} | {
        h.context for h in pbx.config.hotlines if h.number == exten
    }
    if context not in targets:
        s.respond(a, "Error", "Transfer invalid")
        return
    s.respond(a, "Success", "Transfer succeeded")
    pbx.blind_transfer(channel, context, exten)


def _user_event(pbx: Pbx, s: AmiSession, a: Action) -> None:
    name = a.get("userevent")
    if not name:
        s.respond(a, "Error", "UserEvent not specified")
        return
    s.respond(a, "Success", "Event Sent")
    skip = {"action", "actionid", "userevent"}
    body = "".join(f"{k.title()}: {v}\r\n" for k, v in a.items() if k not in skip)
    pbx.em.raw("UserEvent", "user", f"UserEvent: {name}\r\n{body}")


def _getvar(pbx: Pbx, s: AmiSession, a: Action) -> None:
    variable = a.get("variable")
    if not variable:
        s.respond(a, "Error", "No variable specified")
        return
    channel = a.get("channel")
    value = ""
    if channel:
        ch = pbx.channels.get(channel)
        if ch is None:
            s.respond(a, "Error", "No such channel")
            return
        value = ch.variables.get(variable, "")
    s.respond(a, "Success", None, [("Variable", variable), ("Value", value)])


def _setvar(pbx: Pbx, s: AmiSession, a: Action) -> None:
    variable = a.get("variable")
    if not variable:
        s.respond(a, "Error", "No variable specified")
        return
    channel = a.get("channel")
    ch = pbx.channels.get(channel) if channel else None
    if channel and ch is None:
        s.respond(a, "Error", "No such channel")
        return
    s.respond(a, "Success", "Variable Set")
    if ch is not None:
        pbx.em.varset(ch, variable, a.get("value"))


HANDLERS: dict[str, Handler] = {
    "queuestatus": _queue_status,
    "queuesummary": _queue_summary,
    "coreshowchannels": _core_show_channels,
    "queuepause": _queue_pause,
    "queueadd": _queue_add,
    "queueremove": _queue_remove,
    "queuepenalty": _queue_penalty,
    "queuememberringinuse": _queue_ringinuse,
    "originate": _originate,
    "hangup": _hangup,
    "blindtransfer": _blind_transfer,
    "userevent": _user_event,
    "getvar": _getvar,
    "setvar": _setvar,
}


def handle(pbx: Pbx, session: AmiSession, action: Action) -> None:
    """Answer one action; an unknown one gets ``Invalid/unknown command`` like manager.c."""
    handler = HANDLERS.get(action.name)
    if handler is None:
        session.respond(action, "Error", "Invalid/unknown command")
        return
    handler(pbx, session, action)
