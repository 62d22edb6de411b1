"""The roles an account can have: what the web plumbing checks (``web.auth.require``), what the accounts table
stores. ``web.permissions`` says what each may do."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What an account is for; ``web.permissions`` says what each may do."""

    ADMIN = "admin"  # the operator: configures tenants, users, categories, SLAs
    AGENT = "agent"  # answers queue calls, works tickets, calls back
    MANAGER = "manager"  # helpdesk lead or customer IT management: KPIs, reports, escalations
    PARTNER = "partner"  # an external firm: only the tickets routed to its group, by API token
    # the tenant's data-protection officer (Datenschutzbeauftragte/r): reads its tenants' audit log (who read whose
    # data) and answers a person's request for their data (Art. 15 GDPR); nothing of the helpdesk's work
    DPO = "dpo"
