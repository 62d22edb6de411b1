"""Data the embedded demo needs: tenants, agent accounts (the simulated agents', the people's, a team lead's),
the callers the simulator dials from, a category tree, support groups and an SLA per tenant. Idempotent: a demo
restarted on the same database finds it all in place (the SLA and the groups are imported again)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from uhd_telephony.accounts import confidentiality
from uhd_telephony.accounts.service import AccountService, AccountView
from uhd_telephony.articles.files import EXAMPLES as EXAMPLE_ARTICLES
from uhd_telephony.articles.importer import import_articles
from uhd_telephony.directory.models import DirectoryUser
from uhd_telephony.directory.numbers import normalise
from uhd_telephony.directory.records import Phone, PhoneKind, User
from uhd_telephony.directory.repository import DirectoryRepository
from uhd_telephony.errors import NotFound
from uhd_telephony.i18n import format_duration, format_percent, gettext
from uhd_telephony.simulator.config import PbxConfig
from uhd_telephony.sla.policy import import_sla
from uhd_telephony.store.db import Database
from uhd_telephony.tenants.service import TenantService
from uhd_telephony.tickets.categories import DEFAULT_CATEGORIES, import_categories
from uhd_telephony.tickets.groups import import_groups

DEMO_PASSWORD = "demo-agent"  # printed by the demo; a demo database is never a production one
MANAGER = ("lead", "Lena Leitner (Teamleitung)")  # the demo's team lead: KPI page, escalations, tickets
TENANT_NAMES = {"klinikum-nord": "Klinikum Nord", "klinikum-sued": "Klinikum Süd"}
DEPARTMENTS = (
    ("Kardiologie", "doctor", "Haus A, 3. OG"),
    ("Station 3B", "nursing", "Haus A, Station 3B"),
    ("Notaufnahme", "doctor", "Haus C, EG"),
    ("Radiologie", "doctor", "Haus B, UG"),
    ("Patientenaufnahme", "administration", "Haus C, EG"),
    ("Controlling", "controlling", "Verwaltung, 2. OG"),
    ("Labor", "other", "Haus B, 1. OG"),
)

# Short targets, so that within minutes of a demo an SLA warning and a breach fire (on the wall clock: tickets
# live in real time even where the simulated PBX runs faster). 24/7, so the demo escalates at any hour.
DEMO_SLA_TARGETS = {
    1: ("2m", "5m"),
    2: ("5m", "10m"),
    3: ("10m", "20m"),
    4: ("30m", "1h"),
    5: ("1h", "2h"),
}
DEMO_WARNING_AT = 0.5


def demo_sla_summary(locale: str | None) -> str:
    """The demo's SLA in one line, in words: "Demo-SLA rund um die Uhr: Lösung in 5 Min. (Priorität 1) bis 2 Std.
    (Priorität 5), Warnung bei 50 %" (the KPI page's banner, the demo's start-up lines)."""
    return gettext(
        locale,
        "demo SLA around the clock: resolution within %(first)s (priority 1) to %(last)s (priority 5), "
        "warning at %(share)s",
        first=format_duration(parse_duration(DEMO_SLA_TARGETS[1][1]), locale),
        last=format_duration(parse_duration(DEMO_SLA_TARGETS[5][1]), locale),
        share=format_percent(DEMO_WARNING_AT, locale, digits=0),
    )


def parse_duration(text: str) -> float:
    """``5m``, ``2h`` in seconds (the demo's targets as its SLA file writes them)."""
    return float(text[:-1]) * {"s": 1, "m": 60, "h": 3600}[text[-1]]


def demo_sla(tenant: str) -> dict[str, Any]:
    """The SLA file data the demo imports for ``tenant`` (``sla.policy.import_sla``)."""
    domain = f"{tenant}.example"
    return {
        "calendar": {"always": True},
        "unclassified_priority": 3,
        "warning_at": DEMO_WARNING_AT,
        "levels": {"warning": 1, "breach": 2},
        "policies": {p: {"response": r, "resolution": s} for p, (r, s) in DEMO_SLA_TARGETS.items()},
        "contacts": [
            {"name": "Teamleitung User Helpdesk", "level": 1, "mail": ["teamleitung@uhd-helpdesk.example"]},
            {"name": "KIS-Koordination", "level": 1, "category": "kis", "mail": [f"kis-koordination@{domain}"]},
            {"name": f"IT-Leitung {TENANT_NAMES.get(tenant, tenant)}", "level": 2, "mail": [f"it-leitung@{domain}"]},
        ],
    }


def demo_groups(tenant: str) -> list[dict[str, Any]]:
    """Support groups for every group the default category tree names, each with a mail address."""
    domain = f"{tenant}.example"
    return [
        {"code": "1st_level", "name": "1st-Level-Support (User Helpdesk)", "mail": "leitstand@uhd-helpdesk.example"},
        {"code": "2nd_level", "name": "2nd-Level-Support Klinik-IT", "mail": f"klinik-it@{domain}"},
        {"code": "3rd_level", "name": "3rd-Level-Support Systembetreuung", "mail": f"systembetreuung@{domain}"},
        {"code": "partner:sap-hosting", "name": "SAP-Hosting", "mail": "support@sap-hosting.example"},
        {"code": "partner:dedalus", "name": "Dedalus (KIS-Hersteller)", "mail": "support@dedalus.example"},
        {"code": "partner:carrier", "name": "Netzbetreiber (WAN)", "mail": "noc@carrier.example"},
        {"code": "partner:telecom-service", "name": "Telecom-Service", "mail": "stoerung@telecom-service.example"},
        {"code": "partner:facility-management", "name": "Facility-Management", "mail": f"haustechnik@{domain}"},
    ]


@dataclass(frozen=True, slots=True)
class Login:
    """A login the demo prints."""

    username: str
    name: str
    role: str
    person: bool = False  # a person answers this agent's phone in the browser (not the simulator)


async def _acknowledged(accounts: AccountService, view: AccountView) -> None:
    """A demo account, its confidentiality text (§ 203 StGB) acknowledged in the seed: the demo starts usable
    (a real installation's accounts acknowledge it at their first login: security.confidentiality)."""
    await accounts.acknowledge_confidentiality(view.id, confidentiality.VERSION, ip=None)


async def seed_demo(
    db: Database,
    config: PbxConfig,
    directories: Mapping[str, Sequence[Any]],
    *,
    people: Mapping[str, str] | None = None,
    sla: str | os.PathLike[str] | Mapping[str, Any] | None = None,
) -> list[Login]:
    """Tenants, accounts, directory, categories, groups and SLA for the simulator's tenants, the example solution
    articles; the logins.

    ``people`` maps the interfaces a person works (``PhoneBehaviour.manual``) to their usernames; ``sla`` is an
    SLA file (or its data) to import for every tenant instead of the demo's (``demo_sla``).
    """
    people = people or {}
    tenants = sorted({h.tenant for h in config.hotlines})
    await _tenants(db, config, tenants)
    accounts = AccountService(db)
    logins = []
    members = {m.interface: m.name for q in config.queues for m in q.members}
    for interface, name in sorted(members.items()):
        username = people.get(interface) or "agent" + interface.rsplit("/", 1)[-1]
        if await accounts.by_username(username) is None:
            await _acknowledged(accounts, await accounts.create(
                username, DEMO_PASSWORD, display_name=name, role="agent", tenants=tenants,
                interface=interface, member_name=name,
            ))  # fmt: skip
        logins.append(Login(username, name, "agent", person=interface in people))
    username, name = MANAGER
    if await accounts.by_username(username) is None:
        made = await accounts.create(username, DEMO_PASSWORD, display_name=name, role="manager", tenants=tenants)
        await _acknowledged(accounts, made)
    logins.append(Login(username, name, "manager"))
    repo = DirectoryRepository(db)
    for tenant, callers in directories.items():
        users = []
        for i, caller in enumerate(callers):
            key = normalise(caller.number)
            if not caller.known or key is None:
                continue  # the callers the directory does not know stay unknown in the demo too
            department, role, location = DEPARTMENTS[i % len(DEPARTMENTS)]
            kind = PhoneKind.EXTENSION if key.startswith("ext:") else PhoneKind.DESK
            users.append(
                User(
                    tenant=tenant, external_id=caller.user_id, name=caller.name, department=department,
                    role=role, location=location, vip=caller.vip,
                    email=f"{caller.user_id}@{tenant}.example", phones=(Phone(kind.value, key, caller.number),),
                )
            )  # fmt: skip
        await repo.upsert_users(tenant, users)
    for tenant in tenants:
        await import_categories(db, tenant, DEFAULT_CATEGORIES)
        await import_groups(db, tenant, demo_groups(tenant))
        await import_sla(db, tenant, sla if sla is not None else demo_sla(tenant))
    await import_articles(db, EXAMPLE_ARTICLES)  # the Sofort-Support's example articles, shared by both tenants
    return logins


async def directory_ids(db: Database) -> dict[tuple[str, str], int]:
    """(tenant, external_id) -> the directory's user id: what the real AGI lookup sets as UHD_USER_ID."""
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(DirectoryUser.tenant, DirectoryUser.external_id, DirectoryUser.id))
        return {(tenant, external): int(user_id) for tenant, external, user_id in rows.all()}


async def _tenants(db: Database, config: PbxConfig, tenants: Sequence[str]) -> None:
    service = TenantService(db)
    for tenant in tenants:
        try:
            await service.get(tenant)
            continue
        except NotFound:
            pass
        hotlines = [(h.number, h.queue) for h in config.hotlines if h.tenant == tenant]
        await service.add(tenant, name=TENANT_NAMES.get(tenant, tenant), hotlines=hotlines)
