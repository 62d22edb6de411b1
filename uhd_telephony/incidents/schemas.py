"""The bodies, queries and answers of the major incidents' API (what ``web.openapi`` documents)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from uhd_telephony.incidents.models import TITLE_LENGTH
from uhd_telephony.incidents.pileup import COUNT_RANGE, MINUTES_RANGE
from uhd_telephony.incidents.service import MAX_LINKED, MAX_PAGE, MESSAGE_LENGTH, RESOLUTION_LENGTH
from uhd_telephony.web.inputs import Instant

_IN = ConfigDict(extra="forbid", populate_by_name=True)
TicketId = Annotated[int, Field(ge=1, le=10**18 - 1)]
Iso = Annotated[str, Field(description="ISO 8601, UTC", examples=["2026-12-07T11:05:00.000Z"])]


class DeclareBody(BaseModel):
    model_config = _IN
    title: str = Field(min_length=1, max_length=TITLE_LENGTH, description="one line: what is down")
    caller_message: str = Field(
        min_length=1, max_length=MESSAGE_LENGTH, description="what callers hear before the queue and read in mails"
    )
    category: str | None = Field(default=None, min_length=1, max_length=512, description="a category path")
    known_at: Instant | None = Field(
        default=None, description="when it became known (default: the first report among the tickets, else now)"
    )
    parent_ticket_id: TicketId | None = Field(
        default=None, description="an existing ticket as the parent (default: a new ticket with the title)"
    )
    ticket_ids: list[TicketId] = Field(
        default_factory=list, max_length=MAX_LINKED, description="tickets to link at once (a suggestion's)"
    )


class EditBody(BaseModel):
    model_config = _IN
    title: str | None = Field(default=None, min_length=1, max_length=TITLE_LENGTH)
    caller_message: str | None = Field(default=None, min_length=1, max_length=MESSAGE_LENGTH)
    category: str | None = Field(default=None, min_length=1, max_length=512, description="null: none")
    known_at: Instant | None = None
    communicated_at: Instant | None = Field(default=None, description="when the users were informed")


class ResolveBody(BaseModel):
    model_config = _IN
    resolution: str = Field(
        min_length=1, max_length=RESOLUTION_LENGTH, description="public: the comment on every linked ticket"
    )


class SettingsBody(BaseModel):
    model_config = _IN
    pileup_count: int = Field(ge=COUNT_RANGE[0], le=COUNT_RANGE[1], description="tickets of one category ...")
    pileup_minutes: int = Field(ge=MINUTES_RANGE[0], le=MINUTES_RANGE[1], description="... within these minutes")


class ListQuery(BaseModel):
    model_config = _IN
    status: Literal["open", "resolved", "all"] = "all"
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class ExportQuery(BaseModel):
    model_config = _IN
    from_: str = Field(
        alias="from", max_length=40, description="first day (2026-03-01, Europe/Berlin) or instant, included"
    )
    to: str = Field(max_length=40, description="last day (included) or instant (excluded)")
    format: Literal["csv", "json"] = "csv"


class OneExportQuery(BaseModel):
    model_config = _IN
    format: Literal["csv", "json"] = "csv"


# -- answers ----------------------------------------------------------------------------------------------


class PersonRef(BaseModel):
    id: int
    name: str | None


class ParentRef(BaseModel):
    id: int
    number: str | None


class TicketCounts(BaseModel):
    linked: int
    notified: int


class SubscriberCounts(BaseModel):
    count: int
    notified: int


class DeadlinesOut(BaseModel):
    """NIS2: early warning 24 h after known, notification 72 h, final report one month after the notification."""

    early_warning_due_at: Iso
    notification_due_at: Iso
    final_report_due_at: Iso


class IncidentOut(BaseModel):
    id: int
    tenant: str
    title: str
    caller_message: str
    category: str | None
    category_label: str | None = Field(description="the category's titles: KIS › Anmeldung")
    status: Literal["open", "resolved"]
    parent_ticket: ParentRef | None
    prompt: str | None = Field(description="the announcement Asterisk plays (null: the recorded generic one)")
    known_at: Iso
    declared_at: Iso
    communicated_at: Iso | None
    resolved_at: Iso | None
    declared_by: PersonRef | None
    resolved_by: PersonRef | None
    resolution: str | None
    duration_s: float | None = Field(description="known to resolved (null while open)")
    tickets: TicketCounts
    subscribers: SubscriberCounts
    deadlines: DeadlinesOut


class LinkedTicketOut(BaseModel):
    id: int
    number: str
    subject: str
    status: str
    requester_name: str
    linked_at: Iso
    linked_by: int | None
    notified_at: Iso | None
    notified_via: Literal["mail", "callback"] | None


class SubscriberOut(BaseModel):
    id: int
    number: str
    name: str | None
    has_email: bool
    created_at: Iso
    notified_at: Iso | None
    notified_via: Literal["mail", "callback"] | None


class IncidentResponse(BaseModel):
    incident: IncidentOut


class IncidentDetailResponse(BaseModel):
    incident: IncidentOut
    tickets: list[LinkedTicketOut]
    subscribers: list[SubscriberOut]


class IncidentListResponse(BaseModel):
    incidents: list[IncidentOut]
    total: int
    limit: int
    offset: int


class LinkResponse(BaseModel):
    incident: IncidentOut
    linked: bool = Field(description="false: it was linked already")


class ResolveResponse(BaseModel):
    incident: IncidentOut
    told: int = Field(description="callers told by this request (0 when an earlier one told them all)")


class ThresholdOut(BaseModel):
    pileup_count: int
    pileup_minutes: int
    default: bool = Field(description="true: the tenant has set none")


class SettingsResponse(BaseModel):
    settings: ThresholdOut


class SuggestionOut(BaseModel):
    category: str
    category_label: str
    count: int
    first_at: Iso
    last_at: Iso
    ticket_ids: list[int]


class SuggestionsResponse(BaseModel):
    suggestions: list[SuggestionOut]
    threshold: ThresholdOut


class ExportResponse(BaseModel):
    tenant: str
    from_: str | None = Field(alias="from")
    to: str | None
    timezone: str
    incidents: list[IncidentOut]


class IncidentFiguresOut(BaseModel):
    """``incidents.figures.IncidentFigures.to_dict()``: one incident of a period in figures."""

    id: int
    title: str
    category: str | None
    category_label: str | None
    status: Literal["open", "resolved"]
    known_at: Iso
    declared_at: Iso
    communicated_at: Iso | None
    resolved_at: Iso | None
    duration_s: float | None = Field(description="known to resolved (null while open)")
    calls: int = Field(description="conversations that came in between declared and resolved (or the period's end)")
    callers_left: int = Field(description="of which ended at the announcement (never offered)")
    left_by_outcome: dict[str, int] = Field(description="incident_subscribed, incident_left")
    linked_tickets: int
    subscribers: int


class IncidentTotalsOut(BaseModel):
    incidents: int
    duration_s: float | None = Field(description="summed over the resolved ones (null: none resolved)")
    calls: int
    callers_left: int
    linked_tickets: int


class MajorIncidentsOut(BaseModel):
    """The major incidents going on in a period (``incidents.figures``)."""

    incidents: list[IncidentFiguresOut]
    totals: IncidentTotalsOut
