"""Satisfaction: the ratings' table, the rating page under the status link, and the closure mail's rating links
(``feedback.mail`` fills tickets' closure-mail port when imported: here, as the capability is wired)."""

from __future__ import annotations

from uhd_telephony.feedback import mail, page
from uhd_telephony.runtime.plugin import Capability

# the closure mail's lines (registered by the import; named so the wiring is visible)
CLOSURE_LINES = mail.closure_lines

CAPABILITY = Capability(name="feedback", models="uhd_telephony.feedback.models", routes=page.add_routes)
