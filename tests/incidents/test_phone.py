"""incidents.phone on SQLite and PostgreSQL: what callers of a tenant hear, the first announcement's stamp, and the
callers who ask to be told — once each, for open incidents of their own tenant only."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from tests import dbfixtures
from tests.support.directory_data import phone as directory_phone
from tests.support.directory_data import user
from uhd_telephony.directory.lookup import LookupResult, TenantIndex
from uhd_telephony.directory.numbers import NumberingPlan
from uhd_telephony.directory.records import TenantDirectory, User
from uhd_telephony.incidents import phone
from uhd_telephony.incidents.announcement import GENERIC_PROMPT
from uhd_telephony.incidents.phone import OpenIncident, Subscriber
from uhd_telephony.store.db import Database

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
NORD, SUED = "klinikum-nord", "klinikum-sued"


db = dbfixtures.db  # a migrated database: SQLite, then PostgreSQL


async def incident(
    db: Database,
    tenant: str = NORD,
    *,
    declared: datetime = T0,
    prompt: str | None = None,
    status: str = "open",
    communicated: datetime | None = None,
) -> int:
    """An incident row as the incidents' service writes one (without a parent ticket: none is needed here)."""
    values = {
        "tenant": tenant,
        "title": "KIS gestört",
        "caller_message": "Das KIS ist gestört.",
        "status": status,
        "prompt": prompt,
        "known_at": declared - timedelta(minutes=5),
        "declared_at": declared,
        "communicated_at": communicated,
        "resolved_at": declared + timedelta(hours=1) if status == "resolved" else None,
    }
    async with db.engine.begin() as conn:
        result = await conn.execute(phone.incidents.insert().values(values).returning(phone.incidents.c.id))
        return int(result.scalar_one())


async def subscriptions(db: Database) -> list[dict[str, object]]:
    s = phone.subscriptions.c
    stmt = select(s.incident_id, s.tenant, s.number, s.name, s.email, s.user_id, s.linkedid, s.created_at)
    async with db.engine.connect() as conn:
        return [dict(r._mapping) for r in (await conn.execute(stmt.order_by(s.id))).all()]


async def communicated(db: Database, incident_id: int) -> datetime | None:
    c = phone.incidents.c
    async with db.engine.connect() as conn:
        return (await conn.execute(select(c.communicated_at).where(c.id == incident_id))).scalar_one()


CALLER = Subscriber("+492319860572", "Jürgen Müller", "mueller@klinikum-nord.de", 17, "1795733173.14")


# --- what callers hear ----------------------------------------------------------------------------------------


async def test_the_open_incidents_of_the_tenant_newest_first(db: Database) -> None:
    older = await incident(db, declared=T0, prompt="uhd-incidents/uhd-incident-klinikum-nord-1-ab12cd34")
    newer = await incident(db, declared=T0 + timedelta(hours=1), communicated=T0 + timedelta(hours=1))
    await incident(db, status="resolved")
    await incident(db, SUED)

    found = await phone.open_incidents(db, NORD)

    assert found == [
        OpenIncident(newer, None, T0 + timedelta(hours=1)),
        OpenIncident(older, "uhd-incidents/uhd-incident-klinikum-nord-1-ab12cd34", None),
    ]
    assert phone.channel_variables(found) == (
        f"{newer},{older}",
        f"{GENERIC_PROMPT}&uhd-incidents/uhd-incident-klinikum-nord-1-ab12cd34",
    )
    assert await phone.open_incidents(db, "klinikum-west") == []
    assert phone.channel_variables([]) == ("", "")


async def test_the_first_announcement_is_stamped_once(db: Database) -> None:
    first = await incident(db)
    told = await incident(db, communicated=T0 + timedelta(minutes=1))

    assert await phone.mark_communicated(db, NORD, [first, told, first], T0 + timedelta(minutes=2)) == 1
    assert await phone.mark_communicated(db, NORD, [first], T0 + timedelta(minutes=9)) == 0  # never moved later
    assert await communicated(db, first) == T0 + timedelta(minutes=2)
    assert await communicated(db, told) == T0 + timedelta(minutes=1)
    assert await phone.mark_communicated(db, NORD, [], T0) == 0


async def test_another_tenants_or_a_resolved_incident_is_never_stamped(db: Database) -> None:
    theirs = await incident(db, SUED)
    resolved = await incident(db, status="resolved")

    assert await phone.mark_communicated(db, NORD, [theirs, resolved], T0) == 0
    assert await communicated(db, theirs) is None and await communicated(db, resolved) is None


# --- who asks to be told ----------------------------------------------------------------------------------------


async def test_a_caller_is_subscribed_once_per_incident_and_number(db: Database) -> None:
    kis, net = await incident(db), await incident(db, declared=T0 + timedelta(minutes=1))

    assert await phone.subscribe(db, NORD, [net, kis], CALLER, T0) == [kis, net]
    # the same number again (a second call, another name shown): nothing new, still subscribed to both
    again = Subscriber(CALLER.number, "J. Müller", None, None, "1795733999.2")
    assert await phone.subscribe(db, NORD, [kis, net], again, T0 + timedelta(minutes=5)) == [kis, net]

    rows = await subscriptions(db)
    assert [(r["incident_id"], r["number"]) for r in rows] == [(kis, CALLER.number), (net, CALLER.number)]
    assert rows[0] | {"incident_id": None} == {
        "incident_id": None, "tenant": NORD, "number": "+492319860572", "name": "Jürgen Müller",
        "email": "mueller@klinikum-nord.de", "user_id": 17, "linkedid": "1795733173.14", "created_at": T0,
    }  # fmt: skip


async def test_another_number_is_a_subscriber_of_its_own(db: Database) -> None:
    kis = await incident(db)
    await phone.subscribe(db, NORD, [kis], CALLER, T0)
    await phone.subscribe(db, NORD, [kis], Subscriber("ext:4711"), T0)

    assert [(r["number"], r["name"], r["email"]) for r in await subscriptions(db)] == [
        ("+492319860572", "Jürgen Müller", "mueller@klinikum-nord.de"),
        ("ext:4711", None, None),
    ]


async def test_another_tenants_incident_is_never_subscribed_to(db: Database) -> None:
    theirs = await incident(db, SUED)
    mine = await incident(db)

    # an id of tenant B's incident under tenant A (a forged UHD_INCIDENT): only A's own counts
    assert await phone.subscribe(db, NORD, [theirs, mine], CALLER, T0) == [mine]
    assert await phone.subscribe(db, NORD, [theirs], CALLER, T0) == []
    assert [(r["incident_id"], r["tenant"]) for r in await subscriptions(db)] == [(mine, NORD)]


async def test_a_resolved_or_unknown_incident_subscribes_nobody(db: Database) -> None:
    resolved = await incident(db, status="resolved")

    assert await phone.subscribe(db, NORD, [resolved, 999_999], CALLER, T0) == []
    assert await phone.subscribe(db, NORD, [], CALLER, T0) == []
    assert await phone.subscribe(db, NORD, [resolved], Subscriber(""), T0) == []
    assert await subscriptions(db) == []


async def test_long_caller_texts_are_cut_to_the_columns(db: Database) -> None:
    kis = await incident(db)
    long = Subscriber("+49" + "1" * 100, "N" * 500, "a" * 300 + "@example.org", 1, "L" * 500)

    assert await phone.subscribe(db, NORD, [kis], long, T0) == [kis]
    (row,) = await subscriptions(db)
    assert len(str(row["number"])) == 64 and len(str(row["name"])) == 200 and len(str(row["email"])) == 254


async def test_two_presses_at_the_same_moment_make_one_subscription(db: Database) -> None:
    kis = await incident(db)

    results = await asyncio.gather(*(phone.subscribe(db, NORD, [kis], CALLER, T0) for _ in range(5)))

    assert results == [[kis]] * 5
    s = phone.subscriptions.c
    async with db.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).where(s.incident_id == kis))).scalar_one() == 1


# --- the subscriber as the directory knows them -------------------------------------------------------------------


def _lookup(number: str, *users: User) -> LookupResult:
    return TenantIndex(TenantDirectory(NORD, NumberingPlan("DE"), users)).lookup(number)


def test_a_user_the_directory_names_subscribes_with_name_mail_and_id() -> None:
    mueller = user("P-1", "Jürgen Müller", directory_phone("0231 9860572"), email="mueller@klinikum-nord.de", id=42)

    caller = phone.subscriber_of(_lookup("0231 9860572", mueller), "0231 9860572", "MUELLER J", "1795733173.14")

    assert caller == Subscriber("+492319860572", "Jürgen Müller", "mueller@klinikum-nord.de", 42, "1795733173.14")


def test_a_shared_or_unknown_phone_subscribes_with_the_caller_id_name_only() -> None:
    shared = _lookup(
        "0231 9864300",
        user("P-1", "Anna Nurse", directory_phone("0231 9864300", "shared")),
        user("P-2", "Bert Nurse", directory_phone("0231 9864300", "shared")),
    )
    assert shared.kind == "candidates" and len(shared.candidates) == 2
    caller = phone.subscriber_of(shared, "0231 9864300", "Station 3B\r\nKardio", None)
    assert (caller.number, caller.name, caller.email, caller.user_id, caller.linkedid) == (
        "+492319864300", "Station 3B Kardio", None, None, None,
    )  # fmt: skip

    unknown = phone.subscriber_of(_lookup("0231 9869999"), "0231 9869999", "", "")
    assert (unknown.number, unknown.name) == ("+492319869999", None)
