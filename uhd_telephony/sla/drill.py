"""The escalation drill: a marked test warning and breach through every escalation path of a tenant — the test phase
of an introduction ("Überprüfung von Eskalationen"), run by ``uhd-telephony sla test`` and the admin API.

Every path configured for the tenant is tried: each SLA contact (every level and category branch; with a category,
the contacts its tickets would reach at each level) and each support group with an OLA (with a category, the
group its tickets are routed to), on each of its channels, mail and webhook. Each gets a test warning and a test
breach through the outbox, marked as tests — the mail's subject starts with "[TEST]" in the recipient's language,
the webhook's JSON carries ``"test": true`` — queued in one transaction (all or nothing).

Delivery: the drill runs the outbox's own sender for exactly its rows (``OutboxWorker.run_once(ids=...)``: the
configured relay, the webhook signatures), so it needs no service running; a running service's outbox worker may
claim one of them first — claims never overlap — and the drill then waits for that worker's result. Each row gets
one attempt: its result (sent; failed, and why) is the line; a row without a result by the timeout is "timed out".
When the drill ends, whatever of its rows is still waiting for a retry is given up (``failed``): no test mail
arrives days later. Nothing else is written — no ticket, history row, escalation, SLA or KPI figure.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.errors import Conflict, InvalidInput
from uhd_telephony.i18n import Msg, Quoted, actor_label, check_locale, format_datetime, format_number, translator
from uhd_telephony.i18n import label as i18n_label
from uhd_telephony.outbox.mail import Mailer
from uhd_telephony.outbox.models import OutboxStatus, outbox
from uhd_telephony.outbox.service import Message, OutboxWorker, SecretLookup, enqueue_many, first_secret
from uhd_telephony.settings import Settings
from uhd_telephony.sla.clock import Kind
from uhd_telephony.sla.escalation import closing_lines
from uhd_telephony.sla.ola_escalation import KIND_WORDS
from uhd_telephony.sla.ola_policy import load_olas
from uhd_telephony.sla.policy import Contact, contact_secret, contacts_for, load_sla
from uhd_telephony.store.db import Database
from uhd_telephony.tickets import history_text
from uhd_telephony.tickets.groups import webhook_secret
from uhd_telephony.tickets.history import iso
from uhd_telephony.tickets.view import categories

KEY_PREFIX = "sla-test"  # the drill's outbox rows: ``sla-test:<run>:<contact>:<kind>:<channel>``
DEFAULT_TIMEOUT_S = 60.0
MAX_TIMEOUT_S = 600.0
POLL_S = 0.1
DELIVERED, FAILED, TIMED_OUT = "delivered", "failed", "timed_out"
GIVEN_UP = "the escalation test ended: not retried"
SECRETS = first_secret(webhook_secret, contact_secret)  # the groups' webhooks (OLA), then the SLA contacts'


@dataclass(frozen=True, slots=True)
class Path:
    """One contact an escalation of the tenant reaches: an SLA contact (``level``, its ``category`` branch or the
    tenant-wide one), or a support group with an OLA (``group``)."""

    contact: Contact
    level: int | None = None
    category: str | None = None
    group: str | None = None

    @property
    def kind(self) -> str:
        return "ola" if self.group is not None else "sla"

    def words(self, names: history_text.Names, locale: str | None) -> str:
        """What the path is, in words: "SLA, Stufe 1, Kategorie KIS" / "OLA der Gruppe Medisoft"."""
        tr = translator(locale)
        if self.group is not None:
            return tr.gettext("OLA of the group %(group)s", group=names.group(self.group, tr))
        if self.category is not None:
            return tr.gettext(
                "SLA, level %(level)s, category %(category)s", level=self.level, category=names.category(self.category)
            )
        return tr.gettext("SLA, level %(level)s", level=self.level)


async def _known_category(conn: AsyncConnection, tenant: str, category: str) -> str | None:
    """The support group of the tenant's category ``category`` (a path); InvalidInput when it has none such."""
    stmt = select(categories.c.support_group).where(categories.c.tenant == tenant, categories.c.path == category)
    found = (await conn.execute(stmt)).first()
    if found is None:
        unknown = Msg("unknown category %(category)s of tenant %(tenant)s", category=Quoted(category, 80),
                      tenant=Quoted(tenant))  # fmt: skip
        raise InvalidInput(unknown, {"field": "category", "category": category[:80]})
    return str(found[0])


async def paths(conn: AsyncConnection, tenant: str, category: str | None = None) -> list[Path]:
    """Every escalation path of the tenant (``category``: those its tickets reach), SLA contacts first."""
    group_of_category = None if category is None else await _known_category(conn, tenant, category)
    sla = await load_sla(conn, tenant, with_contacts=True)
    found: list[Path] = []
    if sla is not None:
        for level in (1, 2, 3):
            reached = [c for c in sla.contacts if c.level == level]
            if category is not None:
                reached = contacts_for(sla, level, category)
            found += [Path(c, level, c.category) for c in reached]
    ola = (await load_olas(conn, [tenant], with_contacts=True)).get(tenant)
    for code, contact in sorted((ola.group_contacts or {}).items() if ola is not None else ()):
        if category is None or code == group_of_category:
            found.append(Path(contact, group=code))
    return found


def drill_text(
    path: Path, kind: str, *, tenant: str, who: str, at: datetime, names: history_text.Names, locale: str | None
) -> tuple[str, str]:
    """(subject, text) of one test mail in ``locale``: "[TEST]" first, what it stands for, that nothing is to do."""
    tr = translator(locale)
    what = tr.gettext(KIND_WORDS[kind]) if path.group is not None else i18n_label("escalation_kind", kind, locale)
    head = tr.gettext("Escalation test: %(what)s", what=what)
    lines = [
        tr.gettext(
            "This is a test of the escalation paths of %(tenant)s, started by %(who)s, %(when)s.",
            tenant=names.tenant(tenant),
            who=who,
            when=format_datetime(at, locale),
        ),
        tr.gettext("No ticket is affected and nothing needs to be done: this message arriving shows the path works."),
        "",
        tr.gettext("Path: %(path)s", path=path.words(names, locale)),
        tr.gettext("Recipient: %(contact)s", contact=path.contact.name),
        "",
        *closing_lines(tr),
    ]
    return f"{tr.gettext('[TEST]')} {head}", "\n".join(lines) + "\n"


def drill_body(path: Path, kind: str, *, run: str, tenant: str, at: datetime) -> dict[str, Any]:
    """The test webhook's JSON: the escalation's envelope, ``"test": true``, no ticket."""
    return {
        "type": "ticket.ola_escalated" if path.group is not None else "ticket.escalated",
        "test": True,
        "timestamp": iso(at),
        "data": {
            "test_run": run,
            "tenant": tenant,
            "ticket": None,
            "escalation": {
                "kind": kind,
                "level": path.level,
                "category": path.category,
                "group": path.group,
                "contact": path.contact.name,
            },
        },
    }


@dataclass(slots=True)
class Line:
    """The result of one path on one channel: its test warning and breach (``rows``) — delivered when both were,
    failed with the first failure's reason, else without a result (yet)."""

    path: Path
    channel: str
    target: str
    rows: int = 0
    sent: int = 0
    reason: str | None = None
    seconds: float | None = None

    @property
    def status(self) -> str:
        if self.reason is not None:
            return FAILED
        return DELIVERED if self.rows and self.sent == self.rows else TIMED_OUT

    def record(self, row: Mapping[Any, Any], seconds: float) -> None:
        """One of its rows' result (``outbox``'s status and last error), ``seconds`` after the drill began."""
        self.seconds = max(self.seconds or 0.0, seconds)
        if row["status"] == OutboxStatus.SENT.value:
            self.sent += 1
        elif self.reason is None:
            self.reason = row["last_error"] or row["status"]

    def to_dict(self, names: history_text.Names, locale: str | None) -> dict[str, Any]:
        return {
            "contact": self.path.contact.name,
            "path": self.path.kind,
            "level": self.path.level,
            "category": self.path.category,
            "group": self.path.group,
            "channel": self.channel,
            "target": self.target,
            "status": self.status,
            "reason": self.reason,
            "seconds": None if self.seconds is None else round(self.seconds, 3),
            "text": self.text(names, locale),
        }

    def text(self, names: history_text.Names, locale: str | None) -> str:
        """The line in words: "Teamleitung (SLA, Stufe 1) · E-Mail teamleitung@… · zugestellt · 0,4 s"."""
        tr = translator(locale)
        outcome = {
            DELIVERED: tr.gettext("delivered"),
            FAILED: tr.gettext("failed: %(reason)s", reason=self.reason or "\u2013"),
            TIMED_OUT: tr.gettext("no result within the timeout"),
        }[self.status]
        seconds = "\u2013" if self.seconds is None else f"{format_number(self.seconds, locale, digits=1)} s"
        channel = i18n_label("notify_channel", self.channel, locale)
        who = f"{self.path.contact.name} ({self.path.words(names, locale)})"
        return " · ".join((who, f"{channel} {self.target}", outcome, seconds))


@dataclass(slots=True)
class DrillResult:
    tenant: str
    category: str | None
    run: str
    lines: list[Line] = field(default_factory=list)
    names: history_text.Names = field(default_factory=history_text.Names)

    @property
    def ok(self) -> bool:
        return all(line.status == DELIVERED for line in self.lines)

    def to_dict(self, locale: str | None = None) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "category": self.category,
            "run": self.run,
            "ok": self.ok,
            "results": [line.to_dict(self.names, locale) for line in self.lines],
        }

    def summary(self, locale: str | None = None) -> str:
        delivered = sum(1 for line in self.lines if line.status == DELIVERED)
        return translator(locale).gettext(
            "%(delivered)s of %(total)s paths delivered", delivered=delivered, total=len(self.lines)
        )


def _target(contact: Contact, channel: str) -> str:
    """Where a contact's messages of ``channel`` go: its addresses, or its webhook's URL."""
    return ", ".join(contact.mail) if channel == "mail" else str(contact.webhook_url)


def _timeout(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_TIMEOUT_S:
        raise InvalidInput(
            Msg("the timeout is more than 0 and at most %(limit)s seconds", limit=int(MAX_TIMEOUT_S)),
            {"field": "timeout_s"},
        )
    return float(value)


class EscalationDrill:
    """One tenant's escalation test: queue, deliver, wait, report. ``mailer``: the relay (default: the settings'
    SMTP, as the outbox worker's); ``secrets``: the webhooks' signing keys (default: groups', then SLA contacts')."""

    def __init__(
        self, db: Database, settings: Settings, *, mailer: Mailer | None = None, secrets: SecretLookup = SECRETS
    ) -> None:
        self.db = db
        self.settings = settings
        self.mailer = mailer
        self.secrets = secrets

    async def run(
        self, tenant: str, category: str | None = None, *, actor: str = "cli", timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> DrillResult:
        """Queue the test messages of every path, deliver them, wait for their results (at most ``timeout_s``);
        ``actor``: who started it (``cli``, or the admin's ``agent:<id>``), named in the mails."""
        timeout = _timeout(timeout_s)
        run = uuid.uuid4().hex[:16]
        started = time.monotonic()
        result, rows = await self._queue(tenant, category, run, actor)
        lines = {(line.path.contact.key, line.channel): line for line in result.lines}
        sender = OutboxWorker(self.db, self.settings, mailer=self.mailer or Mailer(self.settings),
                              secrets=self.secrets, worker_id=f"{KEY_PREFIX}:{run}")  # fmt: skip
        await sender.webhooks.start()
        try:
            waiting = dict(rows)  # outbox id -> (contact key, channel)
            async with asyncio.timeout(timeout):
                while waiting:
                    await sender.run_once(ids=list(waiting))
                    for row_id, done in (await self._results(list(waiting))).items():
                        lines[waiting.pop(row_id)].record(done, time.monotonic() - started)
                    if waiting:
                        await asyncio.sleep(POLL_S)
        except TimeoutError:
            pass  # the lines of the rows still waiting say "timed out"
        finally:
            await sender.webhooks.close()
            await self._give_up(list(rows), sender.worker_id)
        return result

    async def _queue(
        self, tenant: str, category: str | None, run: str, actor: str
    ) -> tuple[DrillResult, dict[int, tuple[str, str]]]:
        """Queue every path's test warning and breach in one transaction; the result's lines (none delivered yet)
        and the outbox rows, by id: (contact key, channel)."""
        at = datetime.now(UTC)
        async with self.db.engine.begin() as conn:
            found = await paths(conn, tenant, category)
            if not found:
                nothing = Msg("tenant %(tenant)s has no escalation path to test: import an SLA with contacts, or OLAs "
                              "of groups with a mail address or webhook", tenant=Quoted(tenant))  # fmt: skip
                raise Conflict(nothing, {"tenant": tenant})
            names = await history_text.names_for(conn, tenant, [{"actor": actor}])
            messages, keys = self._messages(found, run=run, tenant=tenant, actor=actor, at=at, names=names)
            await enqueue_many(conn, messages, now=at)
            stmt = select(outbox.c.id, outbox.c.dedupe_key).where(outbox.c.dedupe_key.in_(list(keys)))
            rows = {row_id: keys[key] for row_id, key in await conn.execute(stmt)}
        result = DrillResult(tenant, category, run, names=names)
        lines: dict[tuple[str, str], Line] = {}
        for path in found:
            for channel in path.contact.channels():
                if (path.contact.key, channel) not in lines:
                    lines[(path.contact.key, channel)] = Line(path, channel, _target(path.contact, channel))
        for key in rows.values():
            lines[key].rows += 1
        result.lines = list(lines.values())
        return result, rows

    def _messages(
        self, found: Sequence[Path], *, run: str, tenant: str, actor: str, at: datetime, names: history_text.Names
    ) -> tuple[list[Message], dict[str, tuple[str, str]]]:
        """The test warning and breach of each path on each channel, and each message's dedupe key -> (contact key,
        channel); a contact reached by several paths (levels, branches) is tested once."""
        messages: list[Message] = []
        keys: dict[str, tuple[str, str]] = {}
        for path in found:
            contact = path.contact
            locale = check_locale(contact.locale)
            who = actor_label(actor, locale, names.accounts)
            for kind in (Kind.WARNING.value, Kind.BREACH.value):
                subject, text = drill_text(path, kind, tenant=tenant, who=who, at=at, names=names, locale=locale)
                for channel in contact.channels():
                    key = f"{KEY_PREFIX}:{run}:{contact.key}:{kind}:{channel}"
                    if key in keys:
                        continue
                    keys[key] = (contact.key, channel)
                    messages.append(
                        Message(
                            tenant=tenant,
                            channel="mail" if channel == "mail" else "webhook",
                            target=_target(contact, channel),
                            subject=subject if channel == "mail" else None,
                            body={"text": text} if channel == "mail" else drill_body(path, kind, run=run,
                                                                                      tenant=tenant, at=at),
                            dedupe_key=key,
                        )
                    )  # fmt: skip
        return messages, keys

    async def _results(self, ids: Sequence[int]) -> dict[int, Mapping[Any, Any]]:
        """The rows of ``ids`` that have a result: sent, failed, or waiting for a retry after a failed attempt."""
        stmt = select(outbox.c.id, outbox.c.status, outbox.c.last_error).where(outbox.c.id.in_(ids))
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        final = {OutboxStatus.SENT.value, OutboxStatus.FAILED.value}
        return {r["id"]: r for r in rows if r["status"] in final or r["last_error"] is not None}

    async def _give_up(self, ids: Sequence[int], worker_id: str) -> None:
        """Mark the drill's rows still waiting (for a retry, never tried, or abandoned mid-send by the drill's own
        sender at the timeout) as failed: no test message goes out later. A row another worker holds right now
        keeps its claim: its one attempt ends it."""
        if not ids:
            return
        ours = (outbox.c.status == OutboxStatus.PENDING.value) | (
            (outbox.c.status == OutboxStatus.SENDING.value) & (outbox.c.claimed_by == worker_id)
        )
        stmt = (
            update(outbox)
            .where(outbox.c.id.in_(ids), ours)
            .values(
                status=OutboxStatus.FAILED.value,
                claimed_by=None,
                claimed_until=None,
                last_error=func.coalesce(outbox.c.last_error, GIVEN_UP),
            )
        )
        async with self.db.engine.begin() as conn:
            await conn.execute(stmt)
