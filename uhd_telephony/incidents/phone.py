"""The phone side of major incidents: what a caller of the tenant hears, and the callers who ask to be told.

- ``open_incidents``: the tenant's open incidents, newest first, with what the dialplan plays for each
  (``announcement`` turns them into the channel variables UHD_INCIDENT and UHD_INCIDENT_PROMPT);
- ``mark_communicated``: the first announcement stamps ``communicated_at`` (NIS2: when the affected were told),
  once: a later call never moves it;
- ``subscribe``: a caller who pressed the key is told when the incident is over (``incident_subscriptions``), once
  per incident and number, whatever the caller presses on a second call.

Every function takes the tenant and touches only that tenant's incidents: an id of another tenant's incident (a
forged channel variable, a bug) matches nothing. The AGI scripts in Asterisk cannot afford SQLAlchemy's import
(uhd_telephony/agi/incidentdb.py reads and stamps with the plain drivers, checked against these functions in
tests/agi); the simulator, the service and the tests use these.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Insert, and_, literal, select, update

from uhd_telephony.ami.events import clean_text
from uhd_telephony.directory.lookup import LookupResult
from uhd_telephony.incidents.announcement import announcement
from uhd_telephony.incidents.models import IncidentStatus, IncidentSubscription, MajorIncident
from uhd_telephony.store.db import Database, insert_or_nothing
from uhd_telephony.store.models import table_of

incidents = table_of(MajorIncident)
subscriptions = table_of(IncidentSubscription)
OPEN = IncidentStatus.OPEN.value


@dataclass(frozen=True, slots=True)
class OpenIncident:
    """An open incident as a call meets it: its id, its announcement (None: the generic one), whether callers
    were told already."""

    id: int
    prompt: str | None
    communicated_at: datetime | None


@dataclass(frozen=True, slots=True)
class Subscriber:
    """The caller who pressed the key: the number as the directory normalises it and what the directory knows."""

    number: str
    name: str | None = None
    email: str | None = None
    user_id: int | None = None
    linkedid: str | None = None


def subscriber_of(result: LookupResult, raw_number: str, caller_name: str, linkedid: str | None) -> Subscriber:
    """Who subscribes, from the directory's answer for the caller ID: the number as the directory normalises it,
    the user's name, mail and id when it names one user (else the caller ID's name: a shared or unknown phone)."""
    number = result.number or clean_text(raw_number)
    user = result.user if result.kind == "user" else None
    name = user.name if user is not None else clean_text(caller_name)
    call = clean_text(linkedid or "")
    return Subscriber(
        number=number,
        name=name or None,
        email=user.email if user is not None else None,
        user_id=user.id if user is not None else None,
        linkedid=call or None,
    )


async def open_incidents(db: Database, tenant: str) -> list[OpenIncident]:
    """The tenant's open incidents, newest declared first."""
    stmt = (
        select(incidents.c.id, incidents.c.prompt, incidents.c.communicated_at)
        .where(incidents.c.tenant == tenant, incidents.c.status == OPEN)
        .order_by(incidents.c.declared_at.desc(), incidents.c.id.desc())
    )
    async with db.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [OpenIncident(int(r.id), r.prompt, r.communicated_at) for r in rows]


def channel_variables(open_now: Sequence[OpenIncident]) -> tuple[str, str]:
    """``(UHD_INCIDENT, UHD_INCIDENT_PROMPT)`` for these open incidents (empty strings: none)."""
    return announcement((i.id, i.prompt) for i in open_now)


async def mark_communicated(db: Database, tenant: str, incident_ids: Iterable[int], at: datetime) -> int:
    """Stamp ``communicated_at`` on those of the tenant's open incidents that have none yet; how many were."""
    ids = sorted(set(incident_ids))
    if not ids:
        return 0
    stmt = (
        update(incidents)
        .where(
            incidents.c.tenant == tenant,
            incidents.c.status == OPEN,
            incidents.c.id.in_(ids),
            incidents.c.communicated_at.is_(None),
        )
        .values(communicated_at=at)
    )
    async with db.engine.begin() as conn:
        result = await conn.execute(stmt)
    return int(result.rowcount or 0)


async def subscribe(
    db: Database, tenant: str, incident_ids: Iterable[int], caller: Subscriber, at: datetime
) -> list[int]:
    """Subscribe ``caller`` to those of ``incident_ids`` that are open incidents of ``tenant``, once per incident
    and number (a second call adds nothing); the ids of the open incidents the number is subscribed to now."""
    ids = sorted(set(incident_ids))
    if not ids or not caller.number:
        return []
    given = {
        "number": _fit("number", caller.number),
        "name": _fit("name", caller.name),
        "email": _fit("email", caller.email),
        "user_id": caller.user_id,
        "linkedid": caller.linkedid,
        "created_at": at,
    }
    # typed: PostgreSQL cannot tell the type of a bare parameter in a SELECT list (a NULL name above all)
    source = select(
        incidents.c.id, incidents.c.tenant, *(literal(v, type_=subscriptions.c[k].type) for k, v in given.items())
    ).where(and_(incidents.c.tenant == tenant, incidents.c.status == OPEN, incidents.c.id.in_(ids)))
    held = (
        select(subscriptions.c.incident_id)
        .join(incidents, incidents.c.id == subscriptions.c.incident_id)
        .where(
            subscriptions.c.number == given["number"],
            subscriptions.c.incident_id.in_(ids),
            incidents.c.tenant == tenant,
            incidents.c.status == OPEN,
        )
        .order_by(subscriptions.c.incident_id)
    )
    async with db.engine.begin() as conn:
        await conn.execute(_insert_once(conn.dialect.name).from_select(["incident_id", "tenant", *given], source))
        return [int(r.incident_id) for r in (await conn.execute(held)).all()]


def _fit(column: str, value: str | None) -> str | None:
    """A caller's text cut to its column (a caller ID name of 500 characters is still a subscriber)."""
    length = getattr(subscriptions.c[column].type, "length", None)
    return value[:length] if value is not None and length else value


def _insert_once(dialect: str) -> Insert:
    """An insert into ``incident_subscriptions`` that skips an (incident, number) pair already there."""
    return insert_or_nothing(dialect, subscriptions, [subscriptions.c.incident_id, subscriptions.c.number])
