"""The audit log as the process runs it: its table (written through ``audit.log.AuditLog``)."""

from __future__ import annotations

from uhd_telephony.runtime.plugin import Capability

CAPABILITY = Capability(name="audit", models="uhd_telephony.audit.models")
