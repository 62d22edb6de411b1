"""What the data-protection officer's page (``/privacy``, ``privacy.api``) reads: a person found by name, number
or mail (to export or erase them: ``privacy.person``) and the tenant's audit log in words (who read whose data,
when).

The person search looks in the directory (names and departments as the console's search does, a number of one of
their phones, a part of their address) and among the requesters of tickets who are not in it (a part of the name
or address, a number); each found person comes with the selector the export and the erasure take (``user_id``,
else ``number``, else ``email``). The search shows people's data, so it is itself a read (``audit.reads``: the
directory ids and tickets shown, never the search text).

The log in words names every subject of an entry (``person:7`` → the directory entry's name, ``ticket:12`` → its
number and requester, ``call:<linkedid>`` → the caller and when, ``subscription:9`` → the subscriber of a major
incident, ``account:3`` → the account) and every actor by display name: a page shows no code. A filter by person
looks for everything that is theirs (their directory ids, tickets, calls, callbacks, subscriptions: ``places``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.accounts.models import Account
from uhd_telephony.audit.log import AuditAction, AuditView
from uhd_telephony.audit.reads import MAX_FILTER_SUBJECTS, SUBJECT_RE, TenantFilter, tenant_page
from uhd_telephony.directory.models import PHONES, USERS, fold
from uhd_telephony.directory.numbers import NumberingPlan
from uhd_telephony.directory.sync import stored_plans
from uhd_telephony.i18n import N_, Quoted, actor_label, format_datetime, label, translator
from uhd_telephony.incidents.models import MajorIncident
from uhd_telephony.privacy.classes import BY_CODE
from uhd_telephony.privacy.person import Selector, find_person, places
from uhd_telephony.privacy.rules import calls, subscriptions
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.view import tickets

MAX_FOUND = 20  # people a search lists
MAX_REQUESTER_ROWS = 500  # tickets a search reads to group their requesters
MAX_NAMED = 10  # subjects named per entry ("and 40 more")
_LIKE_SPECIAL = re.compile(r"([\\%_])")
_ANON = "anon:"  # a pseudonymised number or address (privacy.pseudonyms)


def _contains(text: str) -> str:
    return "%" + _LIKE_SPECIAL.sub(r"\\\1", text) + "%"


# --------------------------------------------------------------------------------------------------- person search
@dataclass
class FoundPerson:
    """A person the search found: in the directory (``user_id``) or only as a ticket's requester."""

    name: str
    numbers: list[str]
    email: str | None
    selector: dict[str, Any]  # what the export and erasure take: {"user_id": 7} or {"number": …} or {"email": …}
    user_id: int | None = None
    department: str | None = None
    tickets: list[int] = field(default_factory=list)  # a requester's tickets (not in the directory)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "numbers": self.numbers,
            "email": self.email,
            "in_directory": self.user_id is not None,
            "department": self.department,
            "tickets": len(self.tickets),
            "selector": self.selector,
        }

    def subjects(self) -> list[tuple[str, object]]:
        own: list[tuple[str, object]] = [("person", self.user_id)] if self.user_id is not None else []
        return own + [("ticket", t) for t in self.tickets]


async def _plan(conn: AsyncConnection, tenant: str) -> NumberingPlan:
    return (await stored_plans(conn, tenant)).get(tenant, NumberingPlan())


async def search_persons(db: Database, tenant: str, text: str) -> list[FoundPerson]:
    """The people of the tenant whose name, number or mail address matches ``text`` (directory entries first)."""
    async with db.engine.connect() as conn:
        plan = await _plan(conn, tenant)
        keys = plan.keys(text) if any(ch.isdigit() for ch in text) else ()
        found = await _directory(conn, tenant, text, keys)
        if len(found) < MAX_FOUND:
            found += (await _requesters(conn, tenant, text, plan, keys))[: MAX_FOUND - len(found)]
    return found


async def _directory(conn: AsyncConnection, tenant: str, text: str, keys: tuple[str, ...]) -> list[FoundPerson]:
    u = USERS.c
    named = u.search_text.like(_contains(fold(text)), escape="\\") if fold(text) else None
    mailed = func.lower(u.email).like(_contains(text.casefold()), escape="\\")
    phoned = u.id.in_(select(PHONES.c.user_id).where(PHONES.c.tenant == tenant, PHONES.c.number.in_(keys)))
    matches = [m for m in (named, mailed, phoned if keys else None) if m is not None]
    stmt = select(u.id, u.name, u.department, u.email).where(u.tenant == tenant, or_(*matches))
    rows = (await conn.execute(stmt.order_by(u.name, u.id).limit(MAX_FOUND))).all()
    ids = [int(r.id) for r in rows]
    phones: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        own = select(PHONES.c.user_id, PHONES.c.raw).where(PHONES.c.tenant == tenant, PHONES.c.user_id.in_(ids))
        for user_id, raw in (await conn.execute(own.order_by(PHONES.c.id))).all():
            phones[int(user_id)].append(raw)
    return [FoundPerson(r.name, phones[int(r.id)], r.email, {"user_id": int(r.id)}, user_id=int(r.id),
                        department=r.department) for r in rows]  # fmt: skip


async def _requesters(
    conn: AsyncConnection, tenant: str, text: str, plan: NumberingPlan, keys: tuple[str, ...]
) -> list[FoundPerson]:
    """Requesters of tickets who are not in the directory, one per (name, number, address)."""
    t = tickets.c
    digits = re.sub(r"\D", "", text)
    matches = [
        func.lower(t.requester_name).like(_contains(text.casefold()), escape="\\"),
        func.lower(t.requester_email).like(_contains(text.casefold()), escape="\\"),
    ]
    if keys and digits:
        matches.append(t.requester_number.like("%" + digits[-6:]))  # confirmed below by the numbering plan
    outside = and_(t.tenant == tenant, t.requester_user_id.is_(None), t.requester_place_id.is_(None))
    stmt = (
        select(t.id, t.requester_name, t.requester_number, t.requester_email)
        .where(outside, or_(*matches))
        .order_by(t.id.desc())
        .limit(MAX_REQUESTER_ROWS)
    )
    people: dict[tuple[str, str, str], FoundPerson] = {}
    folded = text.casefold()
    for row in (await conn.execute(stmt)).all():
        number = "" if (row.requester_number or "").startswith(_ANON) else (row.requester_number or "")
        email = "" if (row.requester_email or "").startswith(_ANON) else (row.requester_email or "")
        by_number = bool(keys) and bool(number) and not set(keys).isdisjoint(plan.keys(number))
        by_text = folded in (row.requester_name or "").casefold() or folded in email.casefold()
        if not (by_number or by_text):
            continue
        selector = {"number": number} if number else {"email": email} if email else None
        if selector is None:  # a name alone: nothing the export could find them by
            continue
        key = (row.requester_name or "", number, email.casefold())
        person = people.get(key)
        if person is None:
            person = people[key] = FoundPerson(row.requester_name or "", [number] if number else [], email or None,
                                               selector)  # fmt: skip
        person.tickets.append(int(row.id))
    return list(people.values())


# --------------------------------------------------------------------------------------------------- log in words
async def person_subjects(db: Database, tenant: str, who: Selector) -> tuple[tuple[str, ...], bool]:
    """Everything of the person an audit entry may name (directory ids, tickets newest first, calls, callbacks'
    calls, incident subscriptions), at most ``MAX_FILTER_SUBJECTS``; and whether that was all of it."""
    async with db.engine.connect() as conn:
        person = await find_person(conn, tenant, await _plan(conn, tenant), who)
        found = await places(conn, person)
    pairs: list[tuple[str, object]] = [("person", i) for i in sorted(person.user_ids)]
    pairs += [("ticket", r.id) for r in sorted(found["tickets"], key=lambda r: r.id, reverse=True)]
    pairs += [("call", r.linkedid) for r in found["calls"]]
    pairs += [("call", r.linkedid) for r in found["callbacks"]]
    pairs += [("subscription", r.id) for r in found["incident_subscriptions"]]
    seen: dict[str, None] = {}
    for kind, value in pairs:
        if value is not None and value != "":
            seen.setdefault(f"{kind}:{value}", None)
    every = tuple(seen)
    return every[:MAX_FILTER_SUBJECTS], len(every) <= MAX_FILTER_SUBJECTS


@dataclass(frozen=True, slots=True)
class LogPage:
    entries: list[dict[str, Any]]
    next_before: int | None


async def log_page(
    db: Database, tenant: str, where: TenantFilter, locale: str, *, limit: int, before: int | None
) -> LogPage:
    """A page of the tenant's log, each entry with its actor, action, subjects and details in words."""
    page = await tenant_page(db, tenant, where, limit=limit, before=before)
    wanted: set[str] = set()
    actors = {e.actor for e in page.entries}
    incidents: set[int] = set()
    for entry in page.entries:
        wanted.update(_named(entry))
        if entry.target and entry.target.startswith("incident:") and entry.target[9:].isdigit():
            incidents.add(int(entry.target[9:]))
    async with db.engine.connect() as conn:
        names = await _subject_names(conn, tenant, wanted, locale)
        people = await _actor_names(conn, actors)
        titles = await _incident_titles(conn, tenant, incidents)
    return LogPage([_words(e, names, people, titles, locale) for e in page.entries], page.next_before)


def _subjects_of(entry: AuditView) -> list[str]:
    listed = entry.details.get("subjects")
    given = [s for s in listed if isinstance(s, str)] if isinstance(listed, list) else []
    if entry.target and SUBJECT_RE.fullmatch(entry.target) and entry.target not in given:
        given.insert(0, entry.target)
    return [s for s in given if SUBJECT_RE.fullmatch(s)]


def _named(entry: AuditView) -> list[str]:
    return _subjects_of(entry)[:MAX_NAMED]


def _ids(subjects: Iterable[str], kind: str) -> list[str]:
    return [s.partition(":")[2] for s in subjects if s.startswith(kind + ":")]


def _numeric(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.isdigit() and len(v) <= 18]


async def _subject_names(conn: AsyncConnection, tenant: str, wanted: set[str], locale: str) -> dict[str, str]:
    """``kind:id`` → what people read for it, for the subjects still stored (a removed one is said so later)."""
    t = translator(locale)
    out: dict[str, str] = {}
    row: Any  # each query's row
    person_ids = _numeric(_ids(wanted, "person"))
    if person_ids:
        of_people = select(USERS.c.id, USERS.c.name).where(USERS.c.tenant == tenant, USERS.c.id.in_(person_ids))
        for row in (await conn.execute(of_people)).all():
            out[f"person:{row.id}"] = row.name
    ticket_ids = _numeric(_ids(wanted, "ticket"))
    if ticket_ids:
        tc = tickets.c
        of_tickets = select(tc.id, tc.number, tc.requester_name).where(tc.tenant == tenant, tc.id.in_(ticket_ids))
        for row in (await conn.execute(of_tickets)).all():
            shown = _readable(row.requester_name)
            out[f"ticket:{row.id}"] = (t.gettext("ticket %(number)s (%(name)s)", number=row.number, name=shown)
                                       if shown else t.gettext("ticket %(number)s", number=row.number))  # fmt: skip
    linkedids = _ids(wanted, "call")
    if linkedids:
        c = calls.c
        of_calls = (select(c.linkedid, c.caller_name, c.caller_number, c.entered_at)
                    .where(c.tenant == tenant, c.linkedid.in_(linkedids)).order_by(c.entered_at))  # fmt: skip
        for row in (await conn.execute(of_calls)).all():
            key = f"call:{row.linkedid}"
            if key not in out:
                caller = _caller(row.caller_name, row.caller_number) or t.gettext("an unknown caller")
                when = format_datetime(row.entered_at, locale)
                out[key] = t.gettext("call from %(caller)s on %(when)s", caller=caller, when=when)
    subscription_ids = _numeric(_ids(wanted, "subscription"))
    if subscription_ids:
        s = subscriptions.c
        of_subscribers = select(s.id, s.name, s.number).where(s.tenant == tenant, s.id.in_(subscription_ids))
        for row in (await conn.execute(of_subscribers)).all():
            caller = _caller(row.name, row.number) or t.gettext("an unknown caller")
            out[f"subscription:{row.id}"] = t.gettext("%(caller)s (subscribed to a major incident)", caller=caller)
    account_ids = _numeric(_ids(wanted, "account"))
    if account_ids:
        stmt = select(Account.id, Account.display_name).where(Account.id.in_(account_ids))
        for row in (await conn.execute(stmt)).all():
            out[f"account:{row.id}"] = t.gettext("account %(name)s", name=row.display_name)
    return out


def _readable(value: str | None) -> str:
    """A name or number as stored, unless it is a pseudonym (then nothing: the person is no longer named)."""
    text = (value or "").strip()
    return "" if text.startswith(_ANON) else text


def _caller(name: str | None, number: str | None) -> str:
    shown_name, shown_number = _readable(name), _readable(number)
    if shown_name and shown_number:
        return f"{shown_name} ({shown_number})"
    return shown_name or shown_number


async def _actor_names(conn: AsyncConnection, actors: set[str]) -> dict[str, str]:
    if not actors:
        return {}
    stmt = select(Account.username, Account.display_name).where(Account.username.in_(sorted(actors)))
    return {row.username: row.display_name for row in (await conn.execute(stmt)).all()}


async def _incident_titles(conn: AsyncConnection, tenant: str, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    m = MajorIncident.__table__.c
    stmt = select(m.id, m.title).where(m.tenant == tenant, m.id.in_(sorted(ids)))
    return {int(row.id): row.title for row in (await conn.execute(stmt)).all()}


_GONE = {
    "person": N_("a person no longer in the directory"),
    "ticket": N_("a ticket no longer stored"),
    "call": N_("a call no longer stored"),
    "subscription": N_("a subscription no longer stored"),
    "account": N_("an account no longer known"),
}


def _words(
    entry: AuditView, names: dict[str, str], people: dict[str, str], titles: dict[int, str], locale: str
) -> dict[str, Any]:
    t = translator(locale)
    every = _subjects_of(entry)
    count = entry.details.get("count")
    total = count if isinstance(count, int) and count >= len(every) else len(every)
    shown = [{"subject": s, "text": names.get(s) or t.gettext(_GONE[s.partition(":")[0]])} for s in every[:MAX_NAMED]]
    return {
        "id": entry.id,
        "at": _iso(entry.at),
        "when": format_datetime(entry.at, locale),
        "actor": entry.actor,
        "actor_name": actor_label(entry.actor, locale, people),
        "action": entry.action,
        "action_text": label("audit_action", entry.action, locale),
        "subjects": shown,
        "count": total,
        "more": max(0, total - len(shown)),
        "details_text": _details_text(entry, titles, locale),
    }


def _iso(moment: datetime) -> str:
    """The instant as the API writes it (the page shows ``when``, in Berlin time)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_SELECTOR = {
    "number": N_("found by phone number"),
    "email": N_("found by mail address"),
    "user_id": N_("found by directory entry"),
}


def _details_text(entry: AuditView, titles: dict[int, str], locale: str) -> str:
    """What else the entry says, in words: the places of an export or erasure, a retention period, a major
    incident's title; "" when nothing."""
    t = translator(locale)
    details = entry.details
    if entry.action in (AuditAction.PERSON_EXPORTED, AuditAction.PERSON_ERASED):
        kind = details.get("selector")
        parts = [t.gettext(_SELECTOR[kind])] if isinstance(kind, str) and kind in _SELECTOR else []
        counted = details.get("counts")
        found = [f"{label('privacy_place', place, locale)}: {n}" for place, n in counted.items()
                 if isinstance(n, int) and n > 0] if isinstance(counted, dict) else []  # fmt: skip
        return " · ".join([*parts, *(found or [t.gettext("nothing found")])])
    if entry.action == AuditAction.RETENTION_SET and details.get("data_class") in BY_CODE:
        title = t.gettext(BY_CODE[str(details["data_class"])].title)
        days = details.get("days")
        if days is None:
            return t.gettext("%(class)s: back to the default", **{"class": title})
        return t.gettext("%(class)s: %(days)s days", days=days, **{"class": title})
    if entry.action == AuditAction.WORKS_AGREEMENT_CHANGED:
        on = bool(details.get("per_agent_figures"))
        return t.gettext("figures per agent switched on") if on else t.gettext("figures per agent switched off")
    if entry.target and entry.target.startswith("incident:") and entry.target[9:].isdigit():
        incident = titles.get(int(entry.target[9:]))
        if incident is None:
            return t.gettext("a major incident")
        return t.gettext("major incident %(title)s", title=Quoted(incident).render(locale))
    return ""
