"""The Pydantic models of the tickets API: request bodies and query (validated, unknown fields refused) and answers.

``tickets.api`` validates with them; ``web.openapi`` documents them (their JSON Schema is the document's).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from uhd_telephony.i18n import Msg
from uhd_telephony.outbox.mail import valid_address
from uhd_telephony.tickets.models import Channel, TicketStatus
from uhd_telephony.tickets.routing import MAX_REASON
from uhd_telephony.tickets.search import MAX_LIMIT, MAX_OFFSET, Sort
from uhd_telephony.web.inputs import Instant

TEXT_LIMIT = 20_000
MAX_ID = 2**63 - 1


# -- request models -----------------------------------------------------------------------------------------


def _storable(value: str) -> str:
    """Text PostgreSQL and SQLite can store: no NUL, no lone surrogate (a JSON ``\\ud800``)."""
    if "\x00" in value:
        raise ValueError(Msg("must not contain a NUL character"))
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(Msg("must be valid Unicode (a lone surrogate is not)")) from None
    return value


def _filled(value: str) -> str:
    """The text without surrounding blanks; blanks alone are no text."""
    if not value.strip():
        raise ValueError(Msg("must not be blank"))
    return value.strip()


def _address(value: str | None) -> str | None:
    if value is not None and not valid_address(value):
        raise ValueError(Msg("must be a plain mail address such as name@example.org"))
    return value


Text = Annotated[str, AfterValidator(_storable)]
Line = Annotated[str, Field(min_length=1, max_length=MAX_REASON), AfterValidator(_storable)]
LongText = Annotated[str, Field(max_length=TEXT_LIMIT), AfterValidator(_storable)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Level = Annotated[int, Field(ge=1, le=5, description="1 (critical) .. 5 (minimal)")]
Subject = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_storable), AfterValidator(_filled)]


class Body(BaseModel):
    """A request body: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class RequesterIn(Body):
    """Who the ticket is for: a directory user by id, or a free name, phone number and/or mail address."""

    user_id: Id | None = Field(default=None, description="directory user of the tenant; fills name, number, VIP")
    name: Annotated[Text, Field(max_length=200)] = ""
    number: Annotated[Text, Field(max_length=64)] = ""
    email: Annotated[str | None, Field(max_length=254), AfterValidator(_address)] = None

    @model_validator(mode="after")
    def _someone(self) -> RequesterIn:
        if self.user_id is None and not (self.name.strip() or self.number.strip() or self.email):
            raise ValueError(Msg("give a directory user_id or a name, number or email"))
        return self


class CreateTicketBody(Body):
    channel: Channel
    subject: Subject
    description: LongText = ""
    requester: RequesterIn
    category_id: Id | None = Field(default=None, description="classify at creation (impact/urgency default)")
    impact: Level | None = None
    urgency: Level | None = None


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _optional() -> Any:
    """An optional field that may be left out but not be null (the schema shows no ``default: null``)."""
    return Field(default=None, json_schema_extra=_drop_default)


class UpdateTicketBody(Body):
    """The fields to change; a category change classifies the ticket (priority follows impact x urgency)."""

    subject: Subject = _optional()
    description: LongText = _optional()
    impact: Level = _optional()
    urgency: Level = _optional()
    category_id: Id = _optional()

    @model_validator(mode="after")
    def _something(self) -> UpdateTicketBody:
        # null is refused by the field types: a field is either left out or given a value
        if not self.model_fields_set:
            raise ValueError(Msg("give at least one of subject, description, impact, urgency, category_id"))
        return self


class CommentBody(Body):
    text: Annotated[str, Field(min_length=1, max_length=TEXT_LIMIT), AfterValidator(_storable)]
    public: bool = Field(default=False, description="shown to the caller on the status page")


class AssignBody(Body):
    agent_id: Id | None = Field(description="an agent account of the tenant; null takes the ticket back")


class RouteBody(Body):
    group: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.:-]*$")] | None = Field(
        default=None, description="support group code; default: the group the ticket's category maps to"
    )
    reason: Line


class StatusBody(Body):
    status: TicketStatus
    note: LongText | None = Field(default=None, description="required for resolved (resolution), reopened (reason)")


class ResolveBody(Body):
    resolution: Annotated[str, Field(min_length=1, max_length=TEXT_LIMIT), AfterValidator(_storable)]


class CloseBody(Body):
    note: Annotated[str, Field(max_length=2000), AfterValidator(_storable)] | None = None


class ReopenBody(Body):
    reason: Line


class TicketListQuery(Body):
    """Filters, text search, sorting and paging of the ticket list; list filters repeat or take commas."""

    status: list[TicketStatus] = Field(default_factory=list)
    priority: list[Level] = Field(default_factory=list)
    channel: list[Channel] = Field(default_factory=list)
    category: Id | None = Field(default=None, description="a category id: its tickets and those of its subtree")
    group: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    agent: Annotated[str, Field(pattern=r"^(me|none|[1-9][0-9]{0,17})$")] | None = Field(
        default=None, description="an agent account id, 'me' or 'none' (unassigned)"
    )
    requester_user_id: Id | None = None
    requester_number: Annotated[str, Field(max_length=64)] | None = None
    created_from: Instant | None = Field(default=None, description="inclusive; without offset: Europe/Berlin")
    created_to: Instant | None = Field(default=None, description="exclusive; without offset: Europe/Berlin")
    q: Annotated[str, Field(max_length=200), AfterValidator(_storable)] | None = Field(
        default=None, description="words to find in number, subject, description, requester (case, umlauts folded)"
    )
    sort: Sort = "-created_at"
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = 50
    offset: Annotated[int, Field(ge=0, le=MAX_OFFSET)] | None = None
    cursor: Annotated[str, Field(max_length=512)] | None = Field(default=None, description="next_cursor of a page")

    @model_validator(mode="after")
    def _one_way_of_paging(self) -> TicketListQuery:
        if self.offset is not None and self.cursor is not None:
            raise ValueError(Msg("give either offset or cursor, not both"))
        return self


# -- response models ----------------------------------------------------------------------------------------


class CategoryRef(BaseModel):
    id: int
    path: str | None
    name: str | None
    group: str | None
    title_path: str | None = Field(default=None, description="with the history: the titles of the path, KIS › ORBIS")


class RequesterOut(BaseModel):
    user_id: int | None
    place_id: int | None
    number: str
    name: str
    email: str | None = None
    vip: bool


class CallRef(BaseModel):
    call_id: str
    linkedid: str | None


class AgentRef(BaseModel):
    id: int | None
    name: str | None


SlaState = Literal["ok", "warning", "breached", "met", "none"]


class TicketSlaStateOut(BaseModel):
    """A ticket's SLA now, as the SLA capability computes it (``sla.view``; ``tickets.extras`` is the port).

    Per target (response, resolution): the instant the target is due (null while the clock stands still or once
    it is met), the business time left (negative: overdue; null once met; it stands still while paused) and its
    state: ``ok``, ``warning`` (the warning share is used), ``breached``, ``met``. ``state`` is the ticket's:
    ``breached`` when a target was missed, else ``warning``, else ``met`` when both are met, else ``ok``;
    ``none``: no SLA for this ticket."""

    state: SlaState
    paused: bool = Field(description="the clock stands still: the ticket waits on the caller")
    response_due_at: str | None
    response_remaining_s: float | None
    response_state: SlaState
    resolution_due_at: str | None
    resolution_remaining_s: float | None
    resolution_state: SlaState


class TicketOlaStateOut(TicketSlaStateOut):
    """The support group's own targets (OLA) for the routing the ticket is in (``sla.view``; ``tickets.extras`` is
    the port): the same fields as ``sla``, on the group's clock — from the routing to the group's first action
    (response) and to the resolution, paused while the ticket waits on the caller, in the group's business hours."""

    group: str = Field(description="the support group it is routed to")
    routed_at: str = Field(description="when it was routed there: the group's clock starts")


class TicketArticleOut(BaseModel):
    """A solution article used on the ticket, as the articles capability records it (``articles.view``;
    ``tickets.extras`` is the port): ``solved`` the agent's last word on it."""

    article_id: int
    title: str
    solved: bool
    actor: str = Field(description="who said so last (agent:<id>)")
    used_at: str
    updated_at: str


class TicketIncidentOut(BaseModel):
    """The major incident a ticket belongs to (``incidents.extras``; ``tickets.extras`` is the port)."""

    id: int
    title: str
    status: Literal["open", "resolved"]
    role: Literal["parent", "linked"] = Field(description="the incident's parent ticket, or a caller's linked to it")
    declared_at: str


class TicketOut(BaseModel):
    """A ticket; times are ISO 8601 UTC; ``next_statuses`` lists the legal status changes."""

    id: int
    number: str = Field(examples=["UHD-2026-000123"])
    tenant: str
    status: TicketStatus
    channel: Channel
    subject: str
    description: str
    impact: int | None
    urgency: int | None
    priority: int | None
    priority_name: str | None
    category: CategoryRef | None
    requester: RequesterOut
    call: CallRef | None
    agent: AgentRef | None
    created_at: str
    updated_at: str
    first_response_at: str | None
    resolved_at: str | None
    closed_at: str | None
    support_group: str = Field(description="the group working the ticket now (routing)")
    next_statuses: list[TicketStatus] = Field(default_factory=list)
    sla: TicketSlaStateOut | None = Field(
        default=None, description="the SLA now (reads of tickets; null: no SLA capability in this process)"
    )
    ola: TicketOlaStateOut | None = Field(
        default=None, description="reads of tickets: the routed-to group's OLA now (null: none for this ticket)"
    )
    articles: list[TicketArticleOut] | None = Field(
        default=None, description="reads of tickets: the solution articles used on it (null: none)"
    )
    incident: TicketIncidentOut | None = Field(
        default=None, description="reads of tickets: the major incident it belongs to (null: none)"
    )


class HistoryEntry(BaseModel):
    """One history row; comments: action ``comment``, field ``public``/``internal``, text in ``note``."""

    id: int
    at: str
    actor: str
    action: str
    field: str | None
    old_value: str | None
    new_value: str | None
    note: str | None
    text: str | None = Field(
        default=None, description="with the history: who did what, in words, in the reader's language"
    )
    actor_name: str | None = Field(default=None, description="with the history: who, by name (System, Anna Becker)")


class TicketResponse(BaseModel):
    ticket: TicketOut


class TicketPageResponse(BaseModel):
    tickets: list[TicketOut]
    total: int = Field(description="tickets matching the filters, all pages")
    limit: int
    offset: int | None
    next_cursor: str | None = Field(description="pass as cursor for the next page; null on the last page")


class TicketHistoryResponse(BaseModel):
    ticket: TicketOut
    history: list[HistoryEntry]


class CommentResponse(BaseModel):
    ticket: TicketOut
    entry: HistoryEntry


class RouteOut(BaseModel):
    """What routing did (``tickets.routing.RouteResult``); ``routed`` false: the group had it already."""

    ticket_id: int
    number: str
    routed: bool
    old_group: str | None
    new_group: str
    work_orders: list[str] = Field(description="channels a work order was queued on: mail, webhook")


class RouteResponse(BaseModel):
    ticket: TicketOut
    route: RouteOut


class AgentOut(BaseModel):
    id: int
    username: str
    display_name: str


class AgentsResponse(BaseModel):
    agents: list[AgentOut]
