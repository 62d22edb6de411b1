"""Service levels: business calendars, SLA policies per tenant and priority, escalation of foreseeable and
actual misses.

``calendar`` and ``clock`` are pure (values and an injected clock); ``timers`` keeps each ticket's next due
instant in the database; ``escalation`` fires due escalations exactly once and notifies through the outbox. The
support groups' own targets for work routed to them (OLAs) use the same clock and machinery: ``ola`` (pure),
``ola_policy``, ``ola_timers``, ``ola_escalation`` (``timer_scan`` is the scan both run). ``drill`` tests a
tenant's escalation paths (``uhd-telephony sla test``).
"""

from __future__ import annotations

from uhd_telephony.sla.calendar import Calendar, is_business_time

__all__ = ["Calendar", "is_business_time"]
