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
# set by the AGI lookup when the tenant has open major incidents (uhd_telephony/incidents): their ids, comma-separated
# (newest first), and the announcements to play joined with "&"; unset (empty) when there is none
VAR_INCIDENT = "UHD_INCIDENT"
VAR_INCIDENT_PROMPT = "UHD_INCIDENT_PROMPT"
# set to 1 by the subscription AGI once the caller's subscription is recorded (the dialplan confirms and hangs up)
VAR_INCIDENT_SUBSCRIBED = "UHD_INCIDENT_SUBSCRIBED"
UHD_VAR_PREFIX = "UHD_"
# set by the dialplan's [uhd-callback-answered] on the caller's channel of a callback once they answered (the callback
# entry's id): with it in channelvars, a resync after an AMI gap sees a reached caller whose call is still up
VAR_CALLBACK_REACHED = "UHD_CALLBACK_REACHED"
# manager.conf ``channelvars``: Asterisk puts ``ChanVariable: NAME=value`` for each of these into every channel
# event and every CoreShowChannel, so a call rebuilt after a gap (resync, orphan event) knows its tenant, the
# hotline dialled and the lookup's answer exactly as a call followed live
CHANNEL_VARS = (VAR_TENANT, VAR_HOTLINE, VAR_USER_ID, VAR_USER_NAME, VAR_VIP, VAR_CALLBACK_REACHED)

# set by app_queue on the caller channel when Queue() returns (not when the caller hangs up)
VAR_QUEUESTATUS = "QUEUESTATUS"
# set by the overflow branch of the dialplan right before the CallbackRequested UserEvent
VAR_CALLBACK_REQUESTED = "CALLBACK_REQUESTED"

# read by app_queue: a caller with a higher QUEUE_PRIO is answered first; the AGI lookup raises it for VIPs
VAR_QUEUE_PRIO = "QUEUE_PRIO"

# UserEvent names the dialplan sends
USEREVENT_CALLBACK = "CallbackRequested"
USEREVENT_CLOSED = "HotlineClosed"
# the major incident's announcement: "Stage: announced" before it plays, "Stage: subscribed" once the caller pressed
# the key and the subscription is recorded. No incident ids in it: app_userevent splits its body at commas, so
# "Incident: 3,5" would lose the 5; the tracker has them from the channel's UHD_INCIDENT.
USEREVENT_INCIDENT = "UhdIncident"
INCIDENT_ANNOUNCED = "announced"
INCIDENT_SUBSCRIBED = "subscribed"
# a callback reached the caller (issue 20 item 2): Dial's U() gosub [uhd-callback-answered] runs on the caller's
# channel once they answered, before the agent is connected, and sends "UserEvent(UhdCallback,CallbackId: <id>,
# Tenant: <tenant>,Stage: answered)"; it also sets VAR_CALLBACK_REACHED=<id> on that channel, a manager.conf
# channelvar, so a resync after an AMI gap still sees a reached caller whose call is up
USEREVENT_UHD_CALLBACK = "UhdCallback"
CALLBACK_ANSWERED = "answered"
# the headers the tracker reads from each UserEvent (``UserEvent(Name,Header: value,...)`` in the dialplan)
USEREVENT_HEADERS: dict[str, tuple[str, ...]] = {
    USEREVENT_CALLBACK: ("Queue", "Reason"),
    USEREVENT_CLOSED: ("Queue", "Tenant"),
    USEREVENT_INCIDENT: ("Queue", "Stage"),
    USEREVENT_UHD_CALLBACK: ("CallbackId", "Tenant", "Stage"),
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
