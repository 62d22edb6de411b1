"""Human words for the codes the data stores: ticket statuses, channels, priorities and levels, roles, history
actions and fields, actors, call outcomes, SLA kinds and targets, notification channels.

Every label is the catalog's ``<kind>.<code>`` message (``status.in_progress`` is "In Bearbeitung" / "In
progress"); the console's scripts read the same keys (``label("status", code)`` in ``static/i18n.js``). The code
lists here are the catalog's; ``tests/i18n`` checks them against the enumerations of the capabilities
(``TicketStatus``, ``Outcome``, …), so a new status without its label fails there, not on a page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from uhd_telephony.i18n.catalog import N_, check_locale, translator

# kind -> the codes it has, each with its catalog key (written out: the extraction reads them)
LABELS: Mapping[str, Mapping[str, str]] = {
    "status": {
        "new": N_("status.new"),
        "in_progress": N_("status.in_progress"),
        "waiting": N_("status.waiting"),
        "resolved": N_("status.resolved"),
        "closed": N_("status.closed"),
        "reopened": N_("status.reopened"),
    },
    # what a button moving a ticket to that status says
    "status_action": {
        "in_progress": N_("status_action.in_progress"),
        "waiting": N_("status_action.waiting"),
        "resolved": N_("status_action.resolved"),
        "closed": N_("status_action.closed"),
        "reopened": N_("status_action.reopened"),
    },
    # what a caller reads about their request (the status page, the caller's mails)
    "public_status": {
        "new": N_("public_status.new"),
        "in_progress": N_("public_status.in_progress"),
        "waiting": N_("public_status.waiting"),
        "resolved": N_("public_status.resolved"),
        "closed": N_("public_status.closed"),
        "reopened": N_("public_status.reopened"),
    },
    "channel": {
        "phone": N_("channel.phone"),
        "web": N_("channel.web"),
        "mail": N_("channel.mail"),
    },
    "priority": {
        "1": N_("priority.1"),
        "2": N_("priority.2"),
        "3": N_("priority.3"),
        "4": N_("priority.4"),
        "5": N_("priority.5"),
        "none": N_("priority.none"),
    },
    # impact and urgency
    "level": {
        "1": N_("level.1"),
        "2": N_("level.2"),
        "3": N_("level.3"),
        "4": N_("level.4"),
        "5": N_("level.5"),
    },
    "role": {
        "admin": N_("role.admin"),
        "agent": N_("role.agent"),
        "manager": N_("role.manager"),
        "partner": N_("role.partner"),
        "dpo": N_("role.dpo"),
    },
    # a directory person's role (the caller's)
    "person_role": {
        "doctor": N_("person_role.doctor"),
        "nursing": N_("person_role.nursing"),
        "administration": N_("person_role.administration"),
        "controlling": N_("person_role.controlling"),
        "management": N_("person_role.management"),
        "medtech": N_("person_role.medtech"),
        "it": N_("person_role.it"),
        "other": N_("person_role.other"),
    },
    "action": {
        "created": N_("action.created"),
        "classified": N_("action.classified"),
        "priority": N_("action.priority"),
        "status": N_("action.status"),
        "comment": N_("action.comment"),
        "assigned": N_("action.assigned"),
        "routed": N_("action.routed"),
        "escalated": N_("action.escalated"),
        "de-escalated": N_("action.de-escalated"),
        "acknowledged": N_("action.acknowledged"),
        "tenant": N_("action.tenant"),
        "mail": N_("action.mail"),  # a request by mail: its attachments, the closed ticket it follows (mailin)
        "article": N_("action.article"),  # a solution article used (articles.service)
        "incident": N_("action.incident"),  # linked to a major incident, taken off, its parent (incidents.service)
        "ola": N_("action.ola"),  # a support group's OLA warning or breach (sla.ola_escalation)
    },
    # the ticket fields a history row names
    "field": {
        "subject": N_("field.subject"),
        "description": N_("field.description"),
        "impact": N_("field.impact"),
        "urgency": N_("field.urgency"),
        "category": N_("field.category"),
        "category_id": N_("field.category"),
        "priority": N_("field.priority"),
        "status": N_("field.status"),
        "agent": N_("field.agent"),
        "support_group": N_("field.support_group"),
        "tenant": N_("field.tenant"),
        "number": N_("field.number"),
        "sla": N_("field.sla"),
        # what a status change is told (tickets.workflow.NOTE_REQUIRED) and the texts of a comment, a routing
        "resolution": N_("field.resolution"),
        "reason": N_("field.reason"),
        "note": N_("field.note"),
        "text": N_("field.text"),
        "group": N_("field.group"),
        # the fields of the API's bodies and queries, which an invalid request names (web.inputs.problem)
        "action": N_("field.action"),
        "active": N_("field.active"),
        "address": N_("field.address"),  # a tenant's helpdesk address (mailin)
        "agent_id": N_("field.agent"),
        "article_id": N_("field.article_id"),
        "before": N_("field.before"),
        "channel": N_("field.channel"),
        "code": N_("field.code"),
        "created_from": N_("field.created_from"),
        "created_to": N_("field.created_to"),
        "cursor": N_("field.cursor"),
        "data_class": N_("field.data_class"),  # a retention period's class of data (privacy.api)
        "day": N_("field.day"),
        "days": N_("field.days"),  # a retention period (privacy.api)
        "default_impact": N_("field.default_impact"),
        "default_urgency": N_("field.default_urgency"),
        "display_name": N_("field.display_name"),
        "dry_run": N_("field.dry_run"),  # an LDAP sync that only counts (directory.api)
        "email": N_("field.email"),
        "exclude_transfers_in": N_("field.exclude_transfers_in"),
        "expires_in_days": N_("field.expires_in_days"),
        "force": N_("field.force"),  # an LDAP sync past the size guard (directory.api)
        "format": N_("field.format"),
        "from": N_("field.from"),
        "from_": N_("field.from"),
        "to": N_("field.to"),
        "hotlines": N_("field.hotlines"),
        "hotlines.number": N_("field.hotline_number"),
        "hotlines.queue": N_("field.queue"),
        "interface": N_("field.interface"),
        "kind": N_("field.kind"),
        "limit": N_("field.limit"),
        "linkedid": N_("field.linkedid"),
        "locale": N_("field.locale"),
        "member_name": N_("field.member_name"),
        "name": N_("field.name"),
        "offset": N_("field.offset"),
        "open": N_("field.open"),
        "parent_id": N_("field.parent_id"),
        "partner_group": N_("field.partner_group"),
        "password": N_("field.password"),
        "paused": N_("field.paused"),
        "phone_channel": N_("field.phone_channel"),
        "public": N_("field.public"),
        "q": N_("field.q"),
        "queue": N_("field.queue"),
        "region": N_("field.region"),
        "requester": N_("field.requester"),
        "requester.name": N_("field.requester_name"),
        "requester.number": N_("field.requester_number"),
        "requester.email": N_("field.email"),
        "requester.user_id": N_("field.requester_user_id"),
        "requester_number": N_("field.requester_number"),
        "requester_user_id": N_("field.requester_user_id"),
        "user_id": N_("field.requester_user_id"),
        "role": N_("field.role"),
        "scopes": N_("field.scopes"),
        "timeout_s": N_("field.timeout_s"),  # how long the escalation test waits (sla.api)
        "service_level_s": N_("field.service_level_s"),
        "abandons_in_service_level": N_("field.abandons_in_service_level"),
        "callback_window_s": N_("field.callback_window_s"),
        "outside_hours_count": N_("field.outside_hours_count"),
        "queues": N_("field.queues"),
        "short_abandon_s": N_("field.short_abandon_s"),
        "short_abandons_in_base": N_("field.short_abandons_in_base"),
        "valid_from": N_("field.valid_from"),
        "sort": N_("field.sort"),
        "solved": N_("field.solved"),
        "target": N_("field.target"),
        "tenants": N_("field.tenants"),
        "ticket_id": N_("field.ticket_id"),
        # issue 20: the works agreement, the confidentiality acknowledgement, the tenant's audit log
        "per_agent_figures": N_("field.per_agent_figures"),
        "reference": N_("field.reference"),
        "version": N_("field.version"),
        "actor": N_("field.actor"),
        "data_subject": N_("field.data_subject"),
        # the data-protection officer's page: a person searched for, the log narrowed to their data (privacy.api)
        "person": N_("field.person"),
        "person.number": N_("field.person_number"),
        "person.email": N_("field.person_email"),
        "person.user_id": N_("field.person_user_id"),
        "time_zone": N_("field.time_zone"),
        "username": N_("field.username"),
        # the major incidents' bodies (incidents.schemas)
        "title": N_("field.title"),
        "caller_message": N_("field.caller_message"),
        "known_at": N_("field.known_at"),
        "communicated_at": N_("field.communicated_at"),
        "parent_ticket_id": N_("field.parent_ticket_id"),
        "ticket_ids": N_("field.ticket_ids"),
        "pileup_count": N_("field.pileup_count"),
        "pileup_minutes": N_("field.pileup_minutes"),
    },
    "outcome": {
        "answered": N_("outcome.answered"),
        "abandoned": N_("outcome.abandoned"),
        "short_abandon": N_("outcome.short_abandon"),
        "timeout": N_("outcome.timeout"),
        "overflow": N_("outcome.overflow"),
        "refused": N_("outcome.refused"),
        "exit_key": N_("outcome.exit_key"),
        "callback": N_("outcome.callback"),
        "transferred": N_("outcome.transferred"),
        "closed": N_("outcome.closed"),
        "incident_subscribed": N_("outcome.incident_subscribed"),
        "incident_left": N_("outcome.incident_left"),
        "unknown": N_("outcome.unknown"),
    },
    "escalation_kind": {
        "warning": N_("escalation_kind.warning"),
        "breach": N_("escalation_kind.breach"),
    },
    "sla_target": {
        "response": N_("sla_target.response"),
        "resolution": N_("sla_target.resolution"),
    },
    "notify_channel": {
        "mail": N_("notify_channel.mail"),
        "webhook": N_("notify_channel.webhook"),
    },
    # where a callback entry is (callbacks.models.Status)
    "callback_status": {
        "open": N_("callback_status.open"),
        "dialing": N_("callback_status.dialing"),
        "done": N_("callback_status.done"),
        "cleared": N_("callback_status.cleared"),
    },
    # what an API token may do (web.permissions)
    "scope": {
        "tickets:read": N_("scope.tickets:read"),
        "tickets:write": N_("scope.tickets:write"),
        "kpis:read": N_("scope.kpis:read"),
        "wallboard:read": N_("scope.wallboard:read"),
    },
    # the helpdesk's own support levels (a configured group's name wins where there is one)
    "group": {
        "1st_level": N_("group.1st_level"),
        "2nd_level": N_("group.2nd_level"),
        "3rd_level": N_("group.3rd_level"),
    },
    # a major incident (incidents.models.IncidentStatus)
    "incident_status": {
        "open": N_("incident_status.open"),
        "resolved": N_("incident_status.resolved"),
    },
    # how a caller was told a major incident is over (incidents.models.NotifiedVia)
    "notified_via": {
        "mail": N_("notified_via.mail"),
        "callback": N_("notified_via.callback"),
    },
    # what an audit entry records (audit.log.AuditAction): the data-protection officer's page (privacy.api)
    "audit_action": {
        "login_ok": N_("audit_action.login_ok"),
        "login_failed": N_("audit_action.login_failed"),
        "login_locked": N_("audit_action.login_locked"),
        "logout": N_("audit_action.logout"),
        "account_created": N_("audit_action.account_created"),
        "role_changed": N_("audit_action.role_changed"),
        "tenants_changed": N_("audit_action.tenants_changed"),
        "account_deactivated": N_("audit_action.account_deactivated"),
        "account_reactivated": N_("audit_action.account_reactivated"),
        "token_created": N_("audit_action.token_created"),
        "token_revoked": N_("audit_action.token_revoked"),
        "tenant_added": N_("audit_action.tenant_added"),
        "mail_address_added": N_("audit_action.mail_address_added"),
        "mail_address_removed": N_("audit_action.mail_address_removed"),
        "directory_synced": N_("audit_action.directory_synced"),
        "retention_set": N_("audit_action.retention_set"),
        "person_erased": N_("audit_action.person_erased"),
        "person_exported": N_("audit_action.person_exported"),
        "confidentiality_ack": N_("audit_action.confidentiality_ack"),
        "requester_read": N_("audit_action.requester_read"),
        "calls_read": N_("audit_action.calls_read"),
        "works_agreement": N_("audit_action.works_agreement"),
        "kpi_contract": N_("audit_action.kpi_contract"),
        "directory_read": N_("audit_action.directory_read"),
        "incident_read": N_("audit_action.incident_read"),
    },
    # where one person's data is (privacy.person.places): the export's and the erasure's counts
    "privacy_place": {
        "directory": N_("privacy_place.directory"),
        "tickets": N_("privacy_place.tickets"),
        "calls": N_("privacy_place.calls"),
        "callbacks": N_("privacy_place.callbacks"),
        "incident_subscriptions": N_("privacy_place.incident_subscriptions"),
        "mail_in_messages": N_("privacy_place.mail_in_messages"),
        "satisfaction_comments": N_("privacy_place.satisfaction_comments"),
        "outbox": N_("privacy_place.outbox"),
    },
}
SYSTEM_ACTOR = "system"
_ACTOR = re.compile(r"^(agent|partner):(\d{1,18})$")


def label(kind: str, code: object, locale: str | None) -> str:
    """The human word for ``code`` of ``kind`` in ``locale``: ``label("status", "in_progress", "de")`` is
    "In Bearbeitung". A code the table does not know comes back as it is (never an empty cell)."""
    if code is None:
        return "\u2013"
    key = LABELS.get(kind, {}).get(str(code))
    return translator(locale).gettext(key) if key is not None else str(code)


class Label(str):
    """A code that reads as itself in English text (a ``Msg``'s parameter: "ticket cannot go from new to closed")
    and as its label when the message is rendered for people ("… von Neu nach Geschlossen …")."""

    kind: str

    def __new__(cls, kind: str, code: object) -> Label:
        text = super().__new__(cls, str(code))
        text.kind = kind
        return text

    def render(self, locale: str | None) -> str:
        return label(self.kind, str(self), locale)

    def __reduce__(self) -> Any:
        return (Label, (self.kind, str(self)))


class Labels(str):
    """Several codes of one kind (``Label``'s list): "admin, agent" in English text, "Administrator, Agent" for
    people."""

    kind: str
    codes: tuple[str, ...]

    def __new__(cls, kind: str, codes: Iterable[object]) -> Labels:
        listed = tuple(str(code) for code in codes)
        text = super().__new__(cls, ", ".join(listed))
        text.kind = kind
        text.codes = listed
        return text

    def render(self, locale: str | None) -> str:
        return ", ".join(label(self.kind, code, locale) for code in self.codes)

    def __reduce__(self) -> Any:
        return (Labels, (self.kind, self.codes))


# the quotation marks of each language around a value someone gave (German „…“, English “…”)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_QUOTES = {"de": ("\u201e", "\u201c"), "en": ("\u201c", "\u201d")}


class Quoted(str):
    """A value someone gave, inside a message (a ticket number not found, a code the service does not know):
    in the English ``message`` as Python's ``repr`` writes it (``'UHD-2026-1'``: quotes, escapes), for people
    between their language's quotation marks („UHD-2026-1“). ``limit`` shortens a text value first; ``shown`` is
    what people read instead (a category's title for its path)."""

    value: str

    def __new__(cls, value: object, limit: int | None = None, shown: str | None = None) -> Quoted:
        given = value[:limit] if isinstance(value, str) and limit is not None else value
        text = super().__new__(cls, repr(given))
        text.value = str(given) if shown is None else shown
        return text

    def render(self, locale: str | None) -> str:
        opening, closing = _QUOTES.get(check_locale(locale), _QUOTES["de"])
        return f"{opening}{_CONTROL.sub(' ', self.value)}{closing}"

    def __reduce__(self) -> Any:
        return (_quoted, (self.value, str(self)))


def _quoted(value: str, text: str) -> Quoted:
    quoted = str.__new__(Quoted, text)
    quoted.value = value
    return quoted


def status_label(code: str | None, locale: str | None) -> str:
    return label("status", code, locale)


def channel_label(code: str | None, locale: str | None) -> str:
    return label("channel", code, locale)


def role_label(code: str | None, locale: str | None) -> str:
    return label("role", code, locale)


def outcome_label(code: str | None, locale: str | None) -> str:
    return label("outcome", code, locale)


def priority_label(priority: int | str | None, locale: str | None) -> str:
    """``2 – hoch`` / ``2 – high``; ``ohne Priorität`` / ``no priority`` for none."""
    if priority is None or str(priority) == "none":
        return label("priority", "none", locale)
    name = label("priority", str(priority), locale)
    return translator(locale).gettext("%(level)s – %(name)s", level=priority, name=name)


def level_label(level: int | None, locale: str | None) -> str:
    """An impact or urgency: ``2 – hoch``."""
    if level is None:
        return "\u2013"
    return translator(locale).gettext("%(level)s – %(name)s", level=level, name=label("level", str(level), locale))


def actor_label(
    actor: str | None, locale: str | None, names: Mapping[str, str] | Callable[[str], str | None] | None = None
) -> str:
    """Who did it, as people say it: "System", the account's display name instead of ``agent:7`` (``names``:
    actor -> display name, as a mapping or a function), "Kommandozeile" for the CLI, "Schnittstelle (name)" for
    ``api:<client>``, "x@y (per E-Mail)" for ``mail:<address>``; an account no longer known is "Konto 7"."""
    t = translator(locale)
    if not actor or actor == SYSTEM_ACTOR:
        return t.gettext("System")
    known = None if names is None else names.get(actor) if isinstance(names, Mapping) else names(actor)
    if known:
        return known
    found = _ACTOR.match(actor)
    if found is not None:
        return t.gettext("Account %(id)s", id=found.group(2))
    kind, _, rest = actor.partition(":")
    if kind == "api" and rest:
        return t.gettext("Interface (%(client)s)", client=rest)
    if kind == "mail" and rest:  # who wrote to the helpdesk address (mailin)
        return t.gettext("%(address)s (by mail)", address=rest)
    if actor == "cli":
        return t.gettext("Command line")
    return actor


def account_id(actor: str | None) -> int | None:
    """The account id of an ``agent:<id>`` or ``partner:<id>`` actor, else None."""
    found = _ACTOR.match(actor or "")
    return int(found.group(2)) if found is not None else None
