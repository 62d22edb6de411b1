"""One person's data in one tenant, wherever it is: found by their number, mail address or directory user id, then
erased (Art. 17 GDPR) or exported (Art. 15).

The finder starts from the selector and widens it through the directory: a directory user found (by id, by
address, by one of their phones) brings their other numbers, address and name. Numbers are compared as the
directory normalises them (``+492214711``, ``0221 4711`` and ``ext:4711`` with the tenant's PBX block are one
phone): candidates by their last digits in SQL, confirmed in Python. Places of a shared phone are not people and are
never erased through their number.

The erasure keeps every figure: call records keep their times and outcomes (the number is cut to its area), tickets
stay with the requester pseudonymised as the retention scanner does it (``privacy.requesters``), a subscription
stays counted, a rating keeps its score; what goes entirely is the directory entry, callback entries, messages
to the person (pending ones never leave) and their received mails' attachments.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, delete, false, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.directory.models import PHONES, USERS
from uhd_telephony.directory.numbers import NumberingPlan
from uhd_telephony.errors import InvalidInput
from uhd_telephony.feedback.models import ratings
from uhd_telephony.i18n import Msg
from uhd_telephony.mailin.models import attachments, messages
from uhd_telephony.outbox.models import outbox
from uhd_telephony.privacy.pseudonyms import area_of, channel_of, contains, scrub, token
from uhd_telephony.privacy.requesters import pseudonymise_tickets, replacements_of
from uhd_telephony.privacy.rules import callbacks, calls, pseudonymise_subscriptions, subscriptions, without_person
from uhd_telephony.tickets.view import tickets

KINDS = ("number", "email", "user_id")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,253}")
_SUFFIX = 6  # the last digits a stored number is first matched by in SQL


@dataclass(frozen=True, slots=True)
class Selector:
    """Who: exactly one of a number, a mail address, a directory user id."""

    kind: str
    value: str

    def hashed(self, secret: str) -> str:
        """What the audit log keeps of the selector: an HMAC under the tenant's key, never the value itself."""
        return hmac.new(secret.encode(), f"{self.kind}:{self.value}".encode(), hashlib.sha256).hexdigest()


def selector(*, number: str | None = None, email: str | None = None, user_id: int | None = None) -> Selector:
    """The one selector given, checked; InvalidInput for none, several or a malformed one."""
    given = [(k, v) for k, v in (("number", number), ("email", email), ("user_id", user_id)) if v is not None]
    if len(given) != 1:
        raise InvalidInput(Msg("give exactly one of number, email and user id"))
    kind, value = given[0]
    if kind == "user_id":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
            raise InvalidInput(Msg("user id must be a positive whole number"))
        return Selector(kind, str(value))
    text = str(value).strip()
    if kind == "email":
        if len(text) > 254 or not _EMAIL.fullmatch(text) or not text.isprintable():
            raise InvalidInput(Msg("that is not a mail address"))
        return Selector(kind, text.casefold())
    if not 0 < len(text) <= 64 or not text.isprintable():
        raise InvalidInput(Msg("that is not a phone number"))
    return Selector(kind, text)


@dataclass
class Person:
    """Everything that names the person in this tenant."""

    tenant: str
    plan: NumberingPlan
    user_ids: set[int] = field(default_factory=set)
    numbers: set[str] = field(default_factory=set)  # normalised keys
    emails: set[str] = field(default_factory=set)  # case-folded
    names: set[str] = field(default_factory=set)

    def matches(self, raw: str | None) -> bool:
        return bool(raw) and not self.numbers.isdisjoint(self.plan.keys(raw))

    def number_like(self, column: Any) -> ColumnElement[bool]:
        """A SQL pre-filter: the column ends with the last digits of one of the numbers."""
        tails = {re.sub(r"\D", "", n)[-_SUFFIX:] for n in self.numbers}
        return or_(*(column.like(f"%{tail}") for tail in tails if tail)) if tails else _false()

    def email_in(self, column: Any) -> ColumnElement[bool]:
        return func.lower(column).in_(self.emails) if self.emails else _false()


def _false() -> ColumnElement[bool]:
    return false()


async def find_person(conn: AsyncConnection, tenant: str, plan: NumberingPlan, who: Selector) -> Person:
    person = Person(tenant, plan)
    users = USERS.c
    if who.kind == "user_id":
        where: ColumnElement[bool] = users.id == int(who.value)
    elif who.kind == "email":
        person.emails.add(who.value)
        where = func.lower(users.email) == who.value
    else:
        person.numbers.update(plan.keys(who.value))
        if not person.numbers:
            raise InvalidInput(Msg("that is not a phone number"))
        owners = select(PHONES.c.user_id).where(PHONES.c.tenant == tenant, PHONES.c.number.in_(person.numbers))
        where = users.id.in_(owners)
    for row in await conn.execute(select(users.id, users.name, users.email).where(users.tenant == tenant, where)):
        person.user_ids.add(int(row.id))
        person.names.add(row.name)
        if row.email:
            person.emails.add(row.email.casefold())
    if person.user_ids:
        phones = select(PHONES.c.number).where(PHONES.c.tenant == tenant, PHONES.c.user_id.in_(person.user_ids))
        person.numbers.update((await conn.execute(phones)).scalars())
    return person


async def _matching(conn: AsyncConnection, person: Person, stmt: Any, column: str) -> list[Any]:
    """Rows of ``stmt`` whose ``column`` is one of the person's numbers (pre-filtered by SQL)."""
    return [r for r in (await conn.execute(stmt)).all() if person.matches(getattr(r, column))]


async def _rows(conn: AsyncConnection, stmt: Any) -> list[Any]:
    return list((await conn.execute(stmt)).all())


async def places(conn: AsyncConnection, person: Person) -> dict[str, list[Any]]:
    """Every row that names the person, per place (the rows as read, for the export and the counts)."""
    p, tenant = person, person.tenant
    t, c, cb, s, m, r = tickets.c, calls.c, callbacks.c, subscriptions.c, messages.c, ratings.c
    anonymous = and_(t.requester_user_id.is_(None), t.requester_place_id.is_(None))
    numbered = select(tickets).where(t.tenant == tenant, anonymous, p.number_like(t.requester_number))
    by_number = await _matching(conn, p, numbered, "requester_number")
    keyed = or_(
        t.requester_user_id.in_(p.user_ids), t.id.in_([row.id for row in by_number]), p.email_in(t.requester_email)
    )
    found_tickets = await _rows(conn, select(tickets).where(t.tenant == tenant, keyed).order_by(t.id))
    ticket_ids = [row.id for row in found_tickets]
    own_callbacks = select(callbacks).where(cb.tenant == tenant, or_(cb.user_id.in_(p.user_ids),
                                                                     p.number_like(cb.caller_number)))  # fmt: skip
    out: dict[str, list[Any]] = {
        "directory": await _rows(conn, select(USERS).where(USERS.c.tenant == tenant, USERS.c.id.in_(p.user_ids))),
        "tickets": found_tickets,
        "calls": await _matching(
            conn, p, select(calls).where(c.tenant == tenant, c.outcome.is_not(None), p.number_like(c.caller_number)),
            "caller_number",
        ),
        "callbacks": [
            row for row in await _rows(conn, own_callbacks)
            if row.user_id in p.user_ids or p.matches(row.caller_number)
        ],
        "incident_subscriptions": await _rows(conn, select(subscriptions).where(
            s.tenant == tenant, or_(s.user_id.in_(p.user_ids), s.number.in_(p.numbers), p.email_in(s.email))
        )),
        "mail_in_messages": await _rows(conn, select(*m).where(m.tenant == tenant, p.email_in(m.sender))),
        "satisfaction_comments": await _rows(conn, select(ratings).where(
            r.tenant == tenant, r.ticket_id.in_(ticket_ids), r.comment.is_not(None), r.comment != ""
        )),
    }  # fmt: skip
    out["outbox"] = await _outbox(conn, p, ticket_ids, texts_of(p, found_tickets))
    return out


def texts_of(person: Person, found_tickets: Iterable[Any]) -> dict[str, str]:
    """What names the person in a text: their tickets' requester name, number and address, the directory's
    names, addresses and numbers — each with what replaces it."""
    requesters = [SimpleNamespace(name=r.requester_name, number=r.requester_number, email=r.requester_email)
                  for r in found_tickets]  # fmt: skip
    out = replacements_of(requesters, "anon:removed")
    out.update({name: "Gelöschte Person" for name in person.names})
    out.update({value: "anon:removed" for value in (*person.emails, *person.numbers)})
    return out


async def _outbox(conn: AsyncConnection, p: Person, ticket_ids: list[int], texts: dict[str, str]) -> list[Any]:
    """Messages to the person (their address among the targets) or about their tickets naming them."""
    o = outbox.c
    to_them = or_(*(func.lower(o.target).like(f"%{e}%") for e in p.emails)) if p.emails else _false()
    stmt = select(outbox).where(o.tenant == p.tenant, or_(to_them, o.ticket_id.in_(ticket_ids)))
    needles = list(texts)
    return [r for r in (await conn.execute(stmt)).all() if _addressed(r.target, p.emails)
            or contains([r.subject, r.body], needles)]  # fmt: skip


def _addressed(target: str, emails: set[str]) -> bool:
    return any(a.strip().casefold() in emails or _bracketed(a) in emails for a in target.split(","))


def _bracketed(address: str) -> str:
    found = re.search(r"<([^>]+)>", address)
    return found.group(1).strip().casefold() if found else ""


def counts(found: dict[str, list[Any]]) -> dict[str, int]:
    return {place: len(rows) for place, rows in found.items()}


def bundle(found: dict[str, list[Any]]) -> dict[str, list[dict[str, Any]]]:
    """The rows as JSON (instants ISO, bytes left out: an attachment is listed by name and size)."""
    return {place: [{k: _json(v) for k, v in row._mapping.items() if not isinstance(v, bytes | memoryview)}
                    for row in rows] for place, rows in found.items()}  # fmt: skip


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


# ---------------------------------------------------------------------------------------------------------- erase
async def erase(conn: AsyncConnection, person: Person, found: dict[str, list[Any]], secret: str) -> None:
    """Removes or pseudonymises every row ``places`` found, in the caller's transaction."""
    await _erase_tickets(conn, person, found["tickets"], secret)
    await _erase_calls(conn, person, found["calls"])
    if found["callbacks"]:
        await conn.execute(delete(callbacks).where(callbacks.c.id.in_([r.id for r in found["callbacks"]])))
    for row in found["incident_subscriptions"]:
        await pseudonymise_subscriptions(conn, subscriptions.c.id == row.id, token(secret, f"number:{row.number}"))
    for row in found["mail_in_messages"]:
        await conn.execute(delete(attachments).where(attachments.c.mail_id == row.id))
        await conn.execute(update(messages).where(messages.c.id == row.id)
                           .values(sender=token(secret, f"email:{row.sender.casefold()}")))  # fmt: skip
    if found["satisfaction_comments"]:
        ids = [r.id for r in found["satisfaction_comments"]]
        await conn.execute(update(ratings).where(ratings.c.id.in_(ids)).values(comment=""))
    await _erase_outbox(conn, person, found)
    if person.user_ids:
        await conn.execute(delete(PHONES).where(PHONES.c.user_id.in_(person.user_ids)))
        await conn.execute(delete(USERS).where(USERS.c.tenant == person.tenant, USERS.c.id.in_(person.user_ids)))


async def _erase_tickets(conn: AsyncConnection, person: Person, rows: Iterable[Any], secret: str) -> None:
    """Per requester key as the retention scanner does it: a user's tickets, a number's, an address's."""
    t = tickets.c
    for row in rows:
        if row.requester_user_id is not None:
            key, where, keyed = f"user:{row.requester_user_id}", t.requester_user_id == row.requester_user_id, True
        elif row.requester_place_id is not None:  # a place's phone: only the person's address goes
            await conn.execute(update(tickets).where(t.id == row.id).values(requester_email=None))
            continue
        elif row.requester_number and not row.requester_number.startswith("anon:"):
            key, where, keyed = f"number:{row.requester_number}", t.id == row.id, True
        elif row.requester_email:
            key, where, keyed = f"email:{row.requester_email.casefold()}", t.id == row.id, False
        else:
            continue
        await pseudonymise_tickets(conn, person.tenant, where, token(secret, key), keyed=keyed)


async def _erase_calls(conn: AsyncConnection, person: Person, rows: list[Any]) -> None:
    if not rows:
        return
    c = calls.c
    await conn.execute(
        update(calls).where(c.id == bindparam("row_id"))
        .values(caller_number=bindparam("number"), caller_name="", channel=bindparam("chan"),
                variables=bindparam("vars")),
        [{"row_id": r.id, "number": area_of(r.caller_number, person.plan), "chan": channel_of(r.channel),
          "vars": without_person(r.variables)} for r in rows],
    )  # fmt: skip


async def _erase_outbox(conn: AsyncConnection, person: Person, found: dict[str, list[Any]]) -> None:
    """Messages to the person go (a pending one is never sent); others about their tickets lose the names."""
    texts = texts_of(person, found["tickets"])
    for row in found["outbox"]:
        if _addressed(row.target, person.emails):
            await conn.execute(delete(outbox).where(outbox.c.id == row.id))
        else:
            await conn.execute(update(outbox).where(outbox.c.id == row.id)
                               .values(subject=scrub(row.subject, texts), body=scrub(row.body, texts)))  # fmt: skip
