"""The data classes that hold personal data, each with its default retention period, its floor and what happens
at its end: THE list the scanner, the command line, the API and the README's "Data protection" section follow.

Periods are whole days. ``minimum_days`` is the floor a tenant's own period may not go below, where the service
itself or the law needs the data for a while (``minimum_reason`` says why); ``None`` has no maximum either: a
tenant may keep data longer than the default (its own processing record must say why).

Screen-pop data is listed although the scanner has nothing to do for it: the pop is composed from the tickets and
the directory at ring time and kept only in Redis (or in memory), under a key that expires after
``screenpop.fanout.CURRENT_TTL_S`` — never in the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from uhd_telephony.i18n import N_, Msg, Quoted


class Action(StrEnum):
    """What happens to a row at the end of its period."""

    DELETE = "delete"  # the row goes
    REDUCE = "reduce"  # the caller's number is cut to its area, name and identifying variables removed
    PSEUDONYMISE = "pseudonymise"  # the person's fields become a stable pseudonym; the row and its figures stay
    CLEAR = "clear"  # a free text is emptied; the row and its figures stay
    EXPIRES = "expires"  # nothing stored: the data expires by itself


@dataclass(frozen=True, slots=True)
class DataClass:
    code: str
    title: str  # msgid
    where: str  # tables and columns, for people (README, dry run)
    default_days: int
    action: Action
    action_text: str  # msgid: what happens, in words
    minimum_days: int = 0
    minimum_reason: str = ""
    per_tenant: bool = True  # False: one period for the installation (the audit log has no tenant)

    def check(self, days: int) -> int:
        """``days`` when a period of that length is allowed for this class; ValueError with a ``Msg`` otherwise."""
        if isinstance(days, bool) or not isinstance(days, int):
            raise ValueError(Msg("a period is a whole number of days"))
        if days < 0:
            raise ValueError(Msg("a period cannot be negative"))
        if days > MAX_DAYS:
            raise ValueError(Msg("a period is at most %(days)s days", days=MAX_DAYS))
        if days < self.minimum_days:
            raise ValueError(Msg("this data class must be kept at least %(days)s days", days=self.minimum_days))
        return days


MAX_DAYS = 36_500  # a hundred years: longer is a typo

CALL_NUMBERS = DataClass(
    "call_numbers", N_("Caller numbers in call records"),
    "calls: caller_number, caller_name, channel, the caller's directory user in variables",
    183, Action.REDUCE,
    N_("the caller's number is cut to its area code (+49 221 ***), name and directory user removed; the call's "
       "times and outcome stay, so every figure stays exact"),
)  # fmt: skip
CALLBACKS = DataClass(
    "callbacks", N_("Callback entries"), "callbacks (done or cleared): caller number, name, note",
    90, Action.DELETE, N_("entries that were called back or cleared are deleted"),
    minimum_days=3, minimum_reason="an open entry expires after three days (UHD_CALLBACK_EXPIRE_S); only closed "
    "ones are deleted, and the agent who called back may still need the note the next days",
)  # fmt: skip
SCREEN_POP = DataClass(
    "screen_pop", N_("Screen-pop data"), "Redis (or memory): the agent's current pop, at most 4 hours",
    0, Action.EXPIRES, N_("never stored in the database; expires by itself after at most four hours"),
)  # fmt: skip
TICKET_REQUESTERS = DataClass(
    "ticket_requesters", N_("Ticket requester data"),
    "tickets: requester_name, requester_number, requester_email, requester_user_id; the same texts in the "
    "ticket's subject, description and history",
    730, Action.PSEUDONYMISE,
    N_("once the requester's newest ticket is older than the period and none of theirs is open, their name, "
       "number and mail on every ticket become a pseudonym; the tickets stay"),
    minimum_days=30, minimum_reason="a resolved ticket may be reopened and its SLA and satisfaction rating "
    "still need the requester for a month",
)  # fmt: skip
AUDIT_LOG = DataClass(
    "audit_log", N_("Audit log"), "audit_log: who logged in, changed roles, erased or exported whom",
    365, Action.DELETE, N_("entries older than the period are deleted"),
    minimum_days=90, minimum_reason="security incidents are often found weeks later (BSI IT-Grundschutz OPS.1.1.5 "
    "asks for log data to be kept long enough to investigate them)", per_tenant=False,
)  # fmt: skip
OUTBOX_SENT = DataClass(
    "outbox_sent", N_("Sent mails and webhooks"), "outbox (sent or failed): addresses, subjects, bodies",
    30, Action.DELETE, N_("messages sent or given up are deleted; pending ones never"),
    minimum_days=7, minimum_reason="a message's dedupe key keeps the same notice from being sent twice while "
    "its row is there",
)  # fmt: skip
MAIL_IN = DataClass(
    "mail_in", N_("Received mails and attachments"), "mail_in_messages (sender), mail_in_attachments (files)",
    365, Action.DELETE, N_("received mails' records and their attachments are deleted; the ticket and its "
                           "comments stay"),
    minimum_days=30, minimum_reason="a reply is threaded to its ticket by the Message-IDs kept here",
)  # fmt: skip
INCIDENT_SUBSCRIPTIONS = DataClass(
    "incident_subscriptions", N_("Major-incident subscriptions"),
    "incident_subscriptions: the caller's number, name and mail",
    90, Action.PSEUDONYMISE, N_("number, name and mail become a pseudonym; the subscription is still counted"),
    minimum_days=7, minimum_reason="subscribers are told when the incident is resolved",
)  # fmt: skip
SATISFACTION_COMMENTS = DataClass(
    "satisfaction_comments", N_("Satisfaction comments"), "ticket_ratings: comment",
    365, Action.CLEAR, N_("the comment's text is emptied; the rating and its count stay"),
)  # fmt: skip

CLASSES: tuple[DataClass, ...] = (
    CALL_NUMBERS,
    CALLBACKS,
    SCREEN_POP,
    TICKET_REQUESTERS,
    AUDIT_LOG,
    OUTBOX_SENT,
    MAIL_IN,
    INCIDENT_SUBSCRIPTIONS,
    SATISFACTION_COMMENTS,
)
BY_CODE = {c.code: c for c in CLASSES}


def data_class(code: str) -> DataClass:
    """The class named ``code``; ValueError for any other."""
    try:
        return BY_CODE[code]
    except (KeyError, TypeError):
        raise ValueError(Msg("unknown data class %(code)s", code=Quoted(str(code)[:40]))) from None


CLASS_CODES = tuple(BY_CODE)
