"""Names shared by the dialplan, the AGI script and the call tracker: channel variables and UserEvents.

The dialplan in ``dialplan/`` sets these and the tracker reads them; both sides import them from here so a
rename cannot break one side silently.
"""

from __future__ import annotations

from uhd_telephony.tenant import TENANT_VARIABLE

# channel variables set by the AGI caller lookup (dialplan/) and read by the tracker from VarSet events.
# Never set them with an inheritance prefix (``__UHD_TENANT``): VarSet reports the name as written.
VAR_TENANT = TENANT_VARIABLE  # uhd_telephony.tenant decides with it
VAR_USER_ID = "UHD_USER_ID"
VAR_USER_NAME = "UHD_USER_NAME"
VAR_VIP = "UHD_VIP"
VAR_CATEGORY = "UHD_CATEGORY"
VAR_HOTLINE = "UHD_HOTLINE"
UHD_VAR_PREFIX = "UHD_"
# manager.conf ``channelvars``: Asterisk puts ``ChanVariable: NAME=value`` for each of these into every channel
# event and every CoreShowChannel, so a call rebuilt after a gap (resync, orphan event) knows its tenant, the
# hotline dialled and the lookup's answer exactly as a call followed live
CHANNEL_VARS = (VAR_TENANT, VAR_HOTLINE, VAR_USER_ID, VAR_USER_NAME, VAR_VIP)

# set by app_queue on the caller channel when Queue() returns (not when the caller hangs up)
VAR_QUEUESTATUS = "QUEUESTATUS"
# set by the overflow branch of the dialplan right before the CallbackRequested UserEvent
VAR_CALLBACK_REQUESTED = "CALLBACK_REQUESTED"

# read by app_queue: a caller with a higher QUEUE_PRIO is answered first; the AGI lookup raises it for VIPs
VAR_QUEUE_PRIO = "QUEUE_PRIO"

# UserEvent names the dialplan sends
USEREVENT_CALLBACK = "CallbackRequested"
USEREVENT_CLOSED = "HotlineClosed"
# the headers the tracker reads from each UserEvent (``UserEvent(Name,Header: value,...)`` in the dialplan)
USEREVENT_HEADERS: dict[str, tuple[str, ...]] = {
    USEREVENT_CALLBACK: ("Queue", "Reason"),
    USEREVENT_CLOSED: ("Queue", "Tenant"),
}

# QUEUESTATUS values, by what they mean for the call record
QUEUESTATUS_TIMEOUT = frozenset({"TIMEOUT"})
QUEUESTATUS_LEFT_EMPTY = frozenset({"LEAVEEMPTY", "LEAVEUNAVAIL"})
QUEUESTATUS_REFUSED = frozenset({"JOINEMPTY", "JOINUNAVAIL", "FULL"})
QUEUESTATUS_CONTINUE = "CONTINUE"

# the channel snapshot block Asterisk puts in every channel event (ast_manager_build_channel_state_string)
CHANNEL_HEADERS = (
    "Channel",
    "ChannelState",
    "ChannelStateDesc",
    "CallerIDNum",
    "CallerIDName",
    "ConnectedLineNum",
    "ConnectedLineName",
    "Language",
    "AccountCode",
    "Context",
    "Exten",
    "Priority",
    "Uniqueid",
    "Linkedid",
)
