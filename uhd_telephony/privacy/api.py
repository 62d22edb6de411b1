"""The data-protection routes of one tenant: its retention periods (read with what goes when, set), the erasure
of one person (Art. 17 GDPR, with a dry run) and the export of one person's data (Art. 15).

The data-protection officer's page (``/privacy``) and what it reads: a person found by name, number or mail
(``persons``, an audited read) and the tenant's audit log in words (``log``: who read whose data when, by period,
actor and person; ``privacy.officer``).

Who: ``PRIVACY_ROLES`` (admins; a tenant's data-protection officer role joins here), always through the path's
tenant (``require_in_tenant``: another tenant's is 404). A person is named in the body, never in the URL (URLs end up
in access logs): that is why the search and the log are POSTs.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from uhd_telephony.audit import reads
from uhd_telephony.audit.log import MAX_PAGE, AuditAction
from uhd_telephony.audit.reads import TenantFilter
from uhd_telephony.errors import InvalidInput
from uhd_telephony.i18n import Msg
from uhd_telephony.privacy import officer
from uhd_telephony.privacy.classes import CLASS_CODES, MAX_DAYS
from uhd_telephony.privacy.periods import Periods
from uhd_telephony.privacy.person import selector
from uhd_telephony.privacy.retention import Retention
from uhd_telephony.privacy.service import PersonData
from uhd_telephony.web import keys
from uhd_telephony.web.auth import client_ip, require_in_tenant
from uhd_telephony.web.inputs import period, read_json
from uhd_telephony.web.locale import request_locale
from uhd_telephony.web.openapi import documented
from uhd_telephony.web.pages import protected_page
from uhd_telephony.web.roles import Role

# who sets the periods: the installation's admins; who reads them and handles a person's requests (Art. 15, 17): the
# admins and the tenant's data-protection officer
ADMIN_ROLES: tuple[str, ...] = (Role.ADMIN.value,)
PRIVACY_ROLES: tuple[str, ...] = (Role.ADMIN.value, Role.DPO.value)
PERIODS: web.AppKey[Periods] = web.AppKey("privacy_periods", Periods)
RETENTION: web.AppKey[Retention] = web.AppKey("privacy_retention", Retention)
PERSONS: web.AppKey[PersonData] = web.AppKey("privacy_persons", PersonData)
LONGEST = timedelta(days=366)  # the longest period of the log a request reads
# the data-protection officer's page: the log of reads, a person's export and erasure (static/privacy.html; its
# script reads everything through the routes below, which check the role and tenant of every request again)
PAGE = "/privacy"
privacy_page = protected_page(
    "privacy.html", PRIVACY_ROLES, Msg("the data-protection page is for the data-protection officer and admins")
)


class PeriodOut(BaseModel):
    data_class: str
    days: int
    default_days: int
    minimum_days: int
    action: str
    per_tenant: bool
    where: str
    set_by: str | None
    set_at: str | None


class DueOut(BaseModel):
    tenant: str
    data_class: str
    days: int
    action: str
    cutoff: str
    count: int = Field(description="rows (ticket requesters: people) that go at the next run")
    oldest: str | None
    done: bool


class RetentionResponse(BaseModel):
    periods: list[PeriodOut]
    due: list[DueOut]


class PeriodBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data_class: Annotated[str, Field(json_schema_extra={"enum": list(CLASS_CODES)})]
    days: Annotated[StrictInt | None, Field(ge=0, le=MAX_DAYS, description="null: back to the default")]


class PeriodResponse(BaseModel):
    period: PeriodOut


class PersonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: Annotated[str | None, Field(default=None, min_length=1, max_length=64)]
    email: Annotated[str | None, Field(default=None, min_length=3, max_length=254)]
    user_id: Annotated[StrictInt | None, Field(default=None, ge=1, le=2**63 - 1)]


class ErasureBody(PersonBody):
    dry_run: StrictBool = False


class ErasureResponse(BaseModel):
    erased: bool
    counts: dict[str, int]


class ExportResponse(BaseModel):
    tenant: str
    selector: str
    places: dict[str, list[dict[str, Any]]]


@documented("A tenant's retention periods and what goes at the next run (admin, DPO)", response=RetentionResponse,
            tag="admin")  # fmt: skip
async def get_retention(request: web.Request) -> web.Response:
    _, tenant = await require_in_tenant(request, *PRIVACY_ROLES)
    found = await request.app[PERIODS].of(tenant)
    due = await request.app[RETENTION].plan([tenant])
    return web.json_response({"periods": [p.to_dict() for p in found], "due": [d.to_dict() for d in due]})


@documented("Set a tenant's retention period of one data class (admin)", body=PeriodBody, response=PeriodResponse,
            tag="admin")  # fmt: skip
async def set_retention(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *ADMIN_ROLES)
    body = PeriodBody.model_validate(await read_json(request))
    period = await request.app[PERIODS].set(tenant, body.data_class, body.days, who.username)
    await request.app[keys.AUDIT].write(
        AuditAction.RETENTION_SET, actor=who.username, target=f"tenant:{tenant}", ip=client_ip(request),
        details={"data_class": body.data_class, "days": body.days}, tenant=tenant,
    )  # fmt: skip
    return web.json_response({"period": period.to_dict()})


@documented("Erase one person's data in a tenant (Art. 17 GDPR; dry_run: only the places and counts) (admin, DPO)",
            body=ErasureBody, response=ErasureResponse, tag="admin")  # fmt: skip
async def erase_person(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *PRIVACY_ROLES)
    body = ErasureBody.model_validate(await read_json(request))
    person = selector(number=body.number, email=body.email, user_id=body.user_id)
    found = await request.app[PERSONS].erase(
        tenant, person, actor=who.username, ip=client_ip(request), dry_run=body.dry_run
    )
    return web.json_response({"erased": not body.dry_run, "counts": found})


@documented("Everything stored about one person in a tenant (Art. 15 GDPR); the read is audited (admin, DPO)",
            body=PersonBody, response=ExportResponse, tag="admin")  # fmt: skip
async def export_person(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *PRIVACY_ROLES)
    body = PersonBody.model_validate(await read_json(request))
    person = selector(number=body.number, email=body.email, user_id=body.user_id)
    found = await request.app[PERSONS].export(tenant, person, actor=who.username, ip=client_ip(request))
    return web.json_response(found)


class PersonSearchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    q: Annotated[str, Field(min_length=2, max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$",
                            description="a part of the name or mail address, or a phone number")]  # fmt: skip


class FoundPersonOut(BaseModel):
    name: str
    numbers: list[str]
    email: str | None
    in_directory: bool
    department: str | None
    tickets: int = Field(description="tickets of a requester not in the directory")
    selector: dict[str, Any] = Field(description="what the export and the erasure take: user_id, number or email")


class PersonSearchResponse(BaseModel):
    persons: list[FoundPersonOut]


class LogBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: Annotated[str | None, Field(alias="from", max_length=40, description="a day or instant (Berlin)")] = None
    to: Annotated[str | None, Field(max_length=40, description="a day (included) or instant (excluded)")] = None
    actor: Annotated[str | None, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")] = None
    person: PersonBody | None = Field(default=None, description="the entries naming this person's data")
    action: AuditAction | None = None
    limit: StrictInt = Field(default=50, ge=1, le=MAX_PAGE)
    before: StrictInt | None = Field(default=None, ge=1, le=2**63 - 1, description="next_before of the last page")


class SubjectOut(BaseModel):
    subject: str
    text: str


class LogEntryOut(BaseModel):
    id: int
    at: str
    when: str = Field(description="the time in the reader's language, Berlin time")
    actor: str
    actor_name: str
    action: str
    action_text: str
    subjects: list[SubjectOut] = Field(description="whose data, in words (the first ten)")
    count: int
    more: int
    details_text: str


class LogResponse(BaseModel):
    tenant: str
    entries: list[LogEntryOut]
    next_before: int | None
    person_complete: bool = Field(description="false: the person has more data than a filter looks for")


@documented("Find a person of the tenant by name, number or mail address, to export or erase their data; the "
            "read is audited (admin, DPO)", body=PersonSearchBody, response=PersonSearchResponse,
            tag="privacy")  # fmt: skip
async def search_persons(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *PRIVACY_ROLES)
    body = PersonSearchBody.model_validate(await read_json(request))
    found = await officer.search_persons(request.app[keys.DB], tenant, body.q.strip())
    shown = reads.subjects(*(person.subjects() for person in found))
    await reads.record_read(
        request.app[keys.AUDIT], AuditAction.DIRECTORY_READ, actor=who.username, tenant=tenant, subjects=shown,
        ip=client_ip(request),
    )  # fmt: skip
    return web.json_response({"persons": [person.to_dict() for person in found]})


@documented("The tenant's audit log in words: who read whose data when, by period, actor and person (admin, DPO)",
            body=LogBody, response=LogResponse, tag="privacy")  # fmt: skip
async def read_log(request: web.Request) -> web.Response:
    _, tenant = await require_in_tenant(request, *PRIVACY_ROLES)
    body = LogBody.model_validate(await read_json(request))
    since = until = None
    if (body.from_ is None) != (body.to is None):
        raise InvalidInput(Msg("give both from and to, or neither"), {"field": "from" if body.from_ else "to"})
    if body.from_ is not None and body.to is not None:
        since, until = period(body.from_, body.to, LONGEST)
    db, complete, subjects = request.app[keys.DB], True, tuple[str, ...]()
    if body.person is not None:
        person = selector(number=body.person.number, email=body.person.email, user_id=body.person.user_id)
        subjects, complete = await officer.person_subjects(db, tenant, person)
        if not subjects:  # nothing of theirs is stored: no entry can name them
            return web.json_response({"tenant": tenant, "entries": [], "next_before": None, "person_complete": True})
    where = TenantFilter(since=since, until=until, actor=body.actor, any_subject=subjects,
                         action=None if body.action is None else body.action.value)  # fmt: skip
    page = await officer.log_page(db, tenant, where, request_locale(request), limit=body.limit, before=body.before)
    return web.json_response(
        {"tenant": tenant, "entries": page.entries, "next_before": page.next_before, "person_complete": complete}
    )


def add_routes(app: web.Application) -> None:
    base = "/api/tenants/{tenant}/privacy"
    app.router.add_get(base + "/retention", get_retention)
    app.router.add_put(base + "/retention", set_retention)
    app.router.add_post(base + "/erasures", erase_person)
    app.router.add_post(base + "/exports", export_person)
    app.router.add_post(base + "/persons", search_persons)
    app.router.add_post(base + "/log", read_log)
    app.router.add_get(PAGE, privacy_page)
