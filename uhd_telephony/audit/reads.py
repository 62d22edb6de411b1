"""Reads of personal data in the audit log (§ 203 StGB, Art. 32 GDPR), and the tenant's part of the log.

A read of a ticket's requester details (name, number, mail) or of call records (the callback list: callers'
numbers of abandoned calls), of directory entries (a directory search) or of a major incident's callers (its
linked tickets' requesters, its subscribers' numbers and names) writes one entry per answer: who read, the tenant,
when, and whose data as *subjects* — ``ticket:<id>``, ``call:<linkedid>``, ``person:<directory id>``,
``subscription:<id>`` (a major incident's subscriber) — never a number or name in clear
(the log must not become a second copy of what it protects). A list is one entry with all its subjects, so a
page of 50 tickets costs one insert, not 50. An answer that shows nobody's data (an empty list) writes nothing.

The tenant's data-protection officer (role ``dpo``) reads the entries of its tenants (``audit_log.tenant``):
``tenant_page``, filtered by time, actor, subject and action. Entries without a tenant (logins, accounts,
tokens: the operator's own) stay the operator's admins'.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Text, cast, or_, select

from uhd_telephony.audit.log import MAX_PAGE, AuditAction, AuditLog, AuditPage, page_of
from uhd_telephony.audit.models import AuditEntry
from uhd_telephony.store.db import Database

MAX_SUBJECTS = 500  # a list answer is at most 200 tickets (with their requesters): room, and a bound
# ticket:12, person:345, call:1733575200.123 (a linkedid), account:7, subscription:9 (a major incident's subscriber)
SUBJECT_RE = re.compile(r"(ticket|person|call|account|subscription):[A-Za-z0-9.\-]{1,64}")
SUBJECT_PATTERN = "^" + SUBJECT_RE.pattern + "$"
READ_ACTIONS = (
    AuditAction.REQUESTER_READ, AuditAction.CALLS_READ, AuditAction.DIRECTORY_READ, AuditAction.INCIDENT_READ
)  # fmt: skip
MAX_FILTER_SUBJECTS = 200  # one person's subjects a filter looks for (their directory ids, newest tickets, calls)


def subjects(*groups: Iterable[tuple[str, object | None]]) -> list[str]:
    """``kind:id`` for every (kind, id) given whose id is not None, each once, in order."""
    seen: dict[str, None] = {}
    for group in groups:
        for kind, value in group:
            if value is not None and value != "":
                seen.setdefault(f"{kind}:{value}", None)
    return list(seen)


async def record_read(
    audit: AuditLog,
    action: AuditAction,
    *,
    actor: str,
    tenant: str,
    subjects: list[str],
    ip: str | None,
    target: str | None = None,
) -> None:
    """One entry for one answer that showed the data of ``subjects`` (none: nothing to record); ``target``: the one
    object read (a ticket), None for a list."""
    if not subjects:
        return
    shown = subjects[:MAX_SUBJECTS]
    details: dict[str, Any] = {"subjects": shown, "count": len(subjects)}
    await audit.write(action, actor=actor, target=target, ip=ip, details=details, tenant=tenant)


@dataclass(frozen=True, slots=True)
class TenantFilter:
    """What the data-protection officer narrows the tenant's log to; None: no restriction."""

    since: datetime | None = None
    until: datetime | None = None  # excluded
    actor: str | None = None  # a username, exactly
    subject: str | None = None  # one SUBJECT_RE: the entries that name it
    # several: the entries that name any of them (one person's directory ids, tickets, calls); () no restriction
    any_subject: tuple[str, ...] = ()
    action: str | None = None


def _like_literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _naming(subjects: tuple[str, ...]) -> ColumnElement[bool]:
    """The entries that name one of ``subjects``: as their target, or in the details' list (quoted: ``ticket:1``
    does not find ``ticket:12``; the JSON as text is the same on SQLite and PostgreSQL for a plain string)."""
    text = cast(AuditEntry.details, Text)
    named = [text.like('%"' + _like_literal(s) + '"%', escape="\\") for s in subjects]
    return or_(AuditEntry.target.in_(subjects), *named)


async def tenant_page(
    db: Database, tenant: str, where: TenantFilter, *, limit: int = 50, before: int | None = None
) -> AuditPage:
    """The tenant's entries, newest first, page by page (``before``: the previous page's ``next_before``)."""
    limit = max(1, min(limit, MAX_PAGE))
    stmt = select(AuditEntry).where(AuditEntry.tenant == tenant).order_by(AuditEntry.id.desc()).limit(limit + 1)
    if before is not None:
        stmt = stmt.where(AuditEntry.id < before)
    if where.since is not None:
        stmt = stmt.where(AuditEntry.at >= where.since)
    if where.until is not None:
        stmt = stmt.where(AuditEntry.at < where.until)
    if where.actor is not None:
        stmt = stmt.where(AuditEntry.actor == where.actor)
    if where.action is not None:
        stmt = stmt.where(AuditEntry.action == where.action)
    if where.subject is not None:
        # a subject is in ``target`` (one) or in the details' list (quoted: ticket:1 does not find ticket:12);
        # the JSON as text is the same on SQLite and PostgreSQL for a plain string like this
        quoted = '%"' + _like_literal(where.subject) + '"%'
        named = cast(AuditEntry.details, Text).like(quoted, escape="\\")
        stmt = stmt.where(or_(AuditEntry.target == where.subject, named))
    if where.any_subject:
        stmt = stmt.where(_naming(where.any_subject[:MAX_FILTER_SUBJECTS]))
    async with db.sessionmaker() as session:
        return page_of(list(await session.scalars(stmt)), limit)
