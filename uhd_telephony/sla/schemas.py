"""The Pydantic models of the SLA API: bodies and query (unknown fields refused) and answers, for ``web.openapi``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from uhd_telephony.tickets.schemas import Body, Id, Line, Text

MAX_NOTE = 1000
MAX_TEST_TIMEOUT_S = 600
MAX_OFFSET = 100_000

Kind = Literal["warning", "breach"]
Target = Literal["response", "resolution"]


def _blank_is_none(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


class AcknowledgeBody(Body):
    note: Annotated[Text | None, Field(max_length=MAX_NOTE), AfterValidator(_blank_is_none)] = Field(
        default=None, description="optional: what is being done about it"
    )


class DeEscalateBody(Body):
    reason: Line = Field(description="why the escalation is taken back (documented in the ticket history)")


class EscalationListQuery(Body):
    open: bool | None = Field(default=None, description="true: not taken back yet; false: taken back; absent: all")
    ticket_id: Id | None = None
    kind: Kind | None = None
    target: Target | None = None
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)


class NotifiedOut(BaseModel):
    name: str
    channels: list[str]


class EscalationOut(BaseModel):
    """One escalation; times ISO 8601 UTC; ``category_id``/``priority`` are the ticket's when it fired."""

    id: int
    ticket_id: int
    ticket_number: str
    tenant: str
    kind: Kind
    target: Target
    level: int = Field(description="1 team lead, 2 management")
    due_at: str = Field(description="when the clock reached the warning share / the target")
    fired_at: str
    category_id: int | None
    category_path: str | None
    priority: int | None
    notified: list[NotifiedOut]
    acknowledged_by: str | None
    acknowledged_at: str | None
    de_escalated_by: str | None
    de_escalated_at: str | None
    reason: str | None
    open: bool = Field(description="not taken back yet")


class EscalationResponse(BaseModel):
    escalation: EscalationOut


class EscalationPageResponse(BaseModel):
    escalations: list[EscalationOut]
    total: int = Field(description="escalations matching the filters, all pages")
    limit: int
    offset: int


class TargetStateOut(BaseModel):
    target: Target
    target_s: int = Field(description="the target in seconds of business time")
    used_s: float = Field(description="business time on the clock so far (until the response, for response)")
    met: bool
    warning_at: str | None = Field(description="when the clock reaches the warning share (null while paused)")
    breach_at: str | None = Field(description="when the clock reaches the target (null while paused)")


class TicketSlaOut(BaseModel):
    ticket_id: int
    tenant: str
    priority: int | None
    policy_priority: int | None = Field(description="the policy applied (an unclassified ticket's default)")
    calendar: str | None = Field(description="24/7 or the business hours; null: no SLA for this ticket")
    paused: bool = Field(description="the clock stands still: waiting on the caller, or resolved")
    targets: list[TargetStateOut]
    escalations: list[EscalationOut]


class TicketSlaResponse(BaseModel):
    sla: TicketSlaOut


class SlaTestBody(Body):
    """The escalation test of a tenant (``sla.drill``)."""

    category: Annotated[str, Field(min_length=1, max_length=512, pattern=r"^[a-z0-9][a-z0-9_./-]*$")] | None = Field(
        default=None, description="a category path (kis/login): only the contacts its tickets reach"
    )
    timeout_s: float = Field(
        default=60, gt=0, le=MAX_TEST_TIMEOUT_S, description="seconds to wait for the delivery results"
    )


class SlaTestLineOut(BaseModel):
    """One contact on one channel: its test warning and breach delivered, failed (and why), or no result in time."""

    contact: str
    path: Literal["sla", "ola"] = Field(description="an SLA contact, or a support group with an OLA")
    level: int | None = Field(description="the SLA contact's level (1 team lead, 2 management)")
    category: str | None = Field(description="the SLA contact's category branch (null: tenant-wide)")
    group: str | None = Field(description="the support group (OLA)")
    channel: Literal["mail", "webhook"]
    target: str = Field(description="the addresses or the webhook URL")
    status: Literal["delivered", "failed", "timed_out"]
    reason: str | None = Field(description="why it failed (the outbox's last error)")
    seconds: float | None = Field(description="from the start of the test to the (last) result")
    text: str = Field(description="the line in words, in the reader's language")


class SlaTestResponse(BaseModel):
    tenant: str
    category: str | None
    run: str = Field(description="the test run's id (in its outbox rows' dedupe keys: sla-test:<run>:…)")
    ok: bool = Field(description="every path delivered")
    results: list[SlaTestLineOut]
