"""The hotline dialplan the simulated calls run, as Asterisk would show it in Newexten/VarSet events.

It mirrors ``asterisk-etc/extensions.conf`` of the recorded test PBX, with the production additions of the
repository's ``dialplan/``: the trunk delivers the hotline number as ``Exten``, the AGI caller lookup runs before
``Queue()`` (the caller ID comes from ``agi_callerid``, not the arguments)::

    [hotline-in]
    exten => _X.,1,NoOp(UHD hotline ${EXTEN}: call from ${CALLERID(all)} uid=${UNIQUEID})
     same => n,Set(UHD_HOTLINE=${EXTEN})                    ; plain name: a "__" prefix would hide it from the tracker
     same => n,Answer()
     same => n,Set(CDR(userfield)=hotline)
     same => n,AGI(uhd-lookup.agi,<tenant>)                 ; as dialplan/: sets UHD_TENANT, UHD_USER_*, UHD_VIP
     same => n,Set(MAXWAIT=60)
     same => n,Queue(hotline,r,,,${MAXWAIT})
     same => n,NoOp(Queue hotline finished: QUEUESTATUS=${QUEUESTATUS})
     same => n,GotoIf($["${QUEUESTATUS}" = "TIMEOUT"]?overflow)      ; … one GotoIf per status below
     same => n,Hangup()
     same => n(overflow),NoOp(Overflow after ${QUEUESTATUS}: callback requested)
     same => n,Set(CDR(userfield)=hotline-overflow)
     same => n,Set(CALLBACK_REQUESTED=1)
     same => n,UserEvent(CallbackRequested,Queue: hotline,Reason: ${QUEUESTATUS},MaxWait: ${MAXWAIT})
     same => n,Hangup()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from uhd_telephony.simulator.channels import Channel

if TYPE_CHECKING:
    from uhd_telephony.simulator.config import HotlineConfig
    from uhd_telephony.simulator.queues import Member

AGI_SCRIPT = "uhd-lookup.agi"

# app_queue clears these on the caller channel when Queue() starts (Asterisk 21+)
QUEUE_RESET_VARS = ("ANSWEREDTIME", "ANSWEREDTIME_MS", "DIALEDTIME", "DIALEDTIME_MS", "QUEUEWAIT", "QUEUEWAIT_MS")

# the QUEUESTATUS values the dialplan sends to the overflow branch, in the order of its GotoIf lines
OVERFLOW_STATUSES = ("TIMEOUT", "FULL", "JOINEMPTY", "JOINUNAVAIL", "LEAVEEMPTY", "LEAVEUNAVAIL")

# variables set with a "__" prefix, which Asterisk copies onto every channel the caller's channel dials; the
# production dialplan sets none (VarSet would show "__UHD_…", which the tracker does not read)
INHERITED: frozenset[str] = frozenset()


class Default:
    """Sentinel: take the value from the queue configuration."""


def caller_id_all(ch: Channel) -> str:
    """``${CALLERID(all)}``: ``"Name" <num>``."""
    if ch.cid_name:
        return f'"{ch.cid_name}" <{ch.cid_num}>'
    return f"<{ch.cid_num}>" if ch.cid_num else '"" <>'


def entry_noop(hotline: HotlineConfig, ch: Channel) -> str:
    return f"UHD hotline {hotline.number}: call from {caller_id_all(ch)} uid={ch.uniqueid}"


def overflow_priority(queue_priority: int) -> int:
    """Priority of the ``overflow`` label: after the NoOp, the GotoIf chain and the Hangup that follow Queue()."""
    return queue_priority + 2 + len(OVERFLOW_STATUSES) + 1


def member_vars(member: Member) -> list[tuple[str, str]]:
    """The ``setinterfacevar=yes`` variables app_queue sets on both legs when a member answers."""
    return [
        ("MEMBERINTERFACE", member.interface),
        ("MEMBERNAME", member.name),
        ("MEMBERCALLS", str(member.calls_taken)),
        ("MEMBERLASTCALL", str(member.last_call)),
        ("MEMBERPENALTY", str(member.penalty)),
        ("MEMBERDYNAMIC", str(int(member.dynamic))),
        ("MEMBERREALTIME", "0"),
    ]
