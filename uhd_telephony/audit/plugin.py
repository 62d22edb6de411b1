"""The audit log as the process runs it: its table (written through ``audit.log.AuditLog``) and the tenant's part
of it for its data-protection officer (``audit.api``)."""

from __future__ import annotations

from uhd_telephony.audit import api
from uhd_telephony.runtime.plugin import Capability

CAPABILITY = Capability(name="audit", models="uhd_telephony.audit.models", routes=api.add_routes)
