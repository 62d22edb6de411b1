"""The AMI ``Originate`` of a callback: the action the agent's click sends, and what its reply means.

``Originate Channel=<agent phone> Context=<ctx> Exten=<caller> Async=true``: Asterisk rings the agent's phone
first and, once it is answered, runs the dialplan at ``Exten@Context``, which dials the caller. The reply is
``Response: Success`` ("successfully queued") and later one ``OriginateResponse`` event whose ``Response`` says
whether the agent's leg was answered and whose ``Reason`` (AST_CONTROL_*) says why not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from uhd_telephony.ami.events import clean_text
from uhd_telephony.ami.names import VAR_TENANT

# set on the agent's channel: the dialplan and the CDR can tie the call to the callback entry
VAR_CALLBACK_ID = "UHD_CALLBACK_ID"
# OriginateResponse arrives when the agent's phone was answered or gave up (the Originate's own Timeout):
# wait that long plus this margin for Asterisk to report
REPLY_MARGIN_S = 10.0
# OriginateResponse Reason of the first leg, for the entry's note
_REASONS = {"0": "could not be placed", "1": "hung up", "3": "not answered", "5": "busy", "8": "congested"}
# formatting people and trunks put into numbers; what remains must be a number Asterisk can dial
_FORMATTING = re.compile(r"[\s\-/().]")
_DIALABLE = re.compile(r"\+?[0-9]{2,32}")
# characters that would end the quoted name of a CallerID header early
_CALLERID_UNSAFE = re.compile(r'["<>\\]')


def dialable(number: str) -> str | None:
    """The number as an Originate ``Exten`` (digits, an optional leading +), or None when it is none."""
    compact = _FORMATTING.sub("", number or "")
    return compact if _DIALABLE.fullmatch(compact) else None


def originate_action(
    *,
    channel: str,
    context: str,
    exten: str,
    caller_name: str,
    callback_id: int,
    tenant: str,
    timeout_s: float,
) -> dict[str, Any]:
    """The Originate that rings ``channel`` (the agent's phone) and then dials ``exten`` from ``context``."""
    # no line break either: one would end the CallerID header, and Asterisk refuse the action (an entry stored
    # with one before names were cleaned at the AMI event would otherwise fail on every try)
    name = _CALLERID_UNSAFE.sub("", clean_text(caller_name)).strip()
    return {
        "Action": "Originate",
        "Channel": channel,
        "Context": context,
        "Exten": exten,
        "Priority": "1",
        # what the agent's phone shows while it rings: whom they are about to call back
        "CallerID": f'"{name}" <{exten}>',
        "Timeout": str(int(timeout_s * 1000)),
        "Async": "true",
        # one header per variable: a comma inside a value would split a combined "a=1,b=2" header
        "Variable": [f"{VAR_CALLBACK_ID}={callback_id}", f"{VAR_TENANT}={tenant}"],
    }


def originate_failure(reply: Any) -> str | None:
    """None when the agent's leg was answered; otherwise what happened, from the OriginateResponse."""
    messages = reply if isinstance(reply, list) else [reply]
    for message in messages:
        fields: Mapping[str, Any] = message
        if str(fields.get("Event", "")) != "OriginateResponse":
            continue
        if str(fields.get("Response", "")).lower() == "success":
            return None
        reason = str(fields.get("Reason", ""))
        return _REASONS.get(reason, f"failed (reason {reason or 'unknown'})")
    # a synchronous Originate (or a PBX that folds the outcome into the response): the response said Success
    return None
