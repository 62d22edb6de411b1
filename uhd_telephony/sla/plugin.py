"""The SLA: its tables, the escalation API, the scanners that fire warnings and breaches once across instances
(the ticket's SLA, and the support groups' own targets: OLAs), the ticket-history hooks that keep each ticket's
timers, and the SLA contacts' webhook secrets for the outbox."""

from __future__ import annotations

from uhd_telephony.runtime.plugin import Capability, Running, Runtime
from uhd_telephony.sla import api, view  # noqa: F401  (view: the SLA and OLA state in the ticket API, tickets.extras)
from uhd_telephony.sla.escalation import SlaScanner
from uhd_telephony.sla.ola_escalation import OlaScanner
from uhd_telephony.sla.policy import contact_secret

WEBHOOK_SECRETS = contact_secret  # (an OLA's group webhooks are the groups', whose secrets the tickets hand in)


def workers(rt: Runtime) -> list[Running]:
    scanner = SlaScanner(rt.db, interval_s=rt.settings.sla_scan_s)
    ola = OlaScanner(rt.db, interval_s=rt.settings.sla_scan_s)
    rt.provide("sla", scanner)
    rt.provide("ola", ola)
    return [Running(scanner, "sla_escalation"), Running(ola, "ola_escalation")]


CAPABILITY = Capability(name="sla", models="uhd_telephony.sla.models", routes=api.add_routes, workers=workers)
