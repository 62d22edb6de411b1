"""The SLA: its tables, the escalation API, the scanner that fires warnings and breaches once across instances,
the ticket-history hook that keeps each ticket's timer, and the SLA contacts' webhook secrets for the outbox."""

from __future__ import annotations

from uhd_telephony.runtime.plugin import Capability, Running, Runtime
from uhd_telephony.sla import api, view  # noqa: F401  (view: the SLA state in the ticket API, tickets.extras)
from uhd_telephony.sla.escalation import SlaScanner
from uhd_telephony.sla.policy import contact_secret

WEBHOOK_SECRETS = contact_secret


def workers(rt: Runtime) -> list[Running]:
    scanner = SlaScanner(rt.db, interval_s=rt.settings.sla_scan_s)
    rt.provide("sla", scanner)
    return [Running(scanner, "sla_escalation")]


CAPABILITY = Capability(name="sla", models="uhd_telephony.sla.models", routes=api.add_routes, workers=workers)
