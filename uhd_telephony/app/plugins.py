"""Every capability of the process, in wiring order: a new capability is one line here.

Services are made in this order and closed in reverse; workers start in this order (after the web app) and close
in reverse — the SLA scanner and the 10-minute rule stop before the outbox they write to, the screen-pop composer
(tickets, callbacks) before the store closes."""

from __future__ import annotations

from uhd_telephony.accounts.plugin import CAPABILITY as accounts
from uhd_telephony.articles.plugin import CAPABILITY as articles
from uhd_telephony.audit.plugin import CAPABILITY as audit
from uhd_telephony.callbacks.plugin import CAPABILITY as callbacks
from uhd_telephony.directory.plugin import CAPABILITY as directory
from uhd_telephony.feedback.plugin import CAPABILITY as feedback
from uhd_telephony.incidents.plugin import CAPABILITY as incidents
from uhd_telephony.mailin.plugin import CAPABILITY as mailin
from uhd_telephony.metrics.plugin import CAPABILITY as metrics
from uhd_telephony.outbox import plugin as outbox
from uhd_telephony.privacy.plugin import CAPABILITY as privacy
from uhd_telephony.reachback.plugin import CAPABILITY as reachback
from uhd_telephony.runtime.plugin import Capability
from uhd_telephony.screenpop.plugin import CAPABILITY as screenpop
from uhd_telephony.security.plugin import CAPABILITY as security
from uhd_telephony.sla import plugin as sla
from uhd_telephony.tenants.plugin import CAPABILITY as tenants
from uhd_telephony.tenants.service import display_names
from uhd_telephony.tickets import history_text
from uhd_telephony.tickets import plugin as tickets

# tickets name tenants by the tenants capability's display names (siblings: the hook is handed in here)
history_text.tenant_names_from(display_names)

CAPABILITIES: tuple[Capability, ...] = (
    # the outbox signs webhooks with the secrets of the capabilities that own webhook URLs
    outbox.capability(tickets.WEBHOOK_SECRETS, sla.WEBHOOK_SECRETS),
    audit,
    accounts,
    security,
    tenants,
    directory,
    tickets.CAPABILITY,
    callbacks,
    sla.CAPABILITY,
    incidents,
    articles,
    feedback,
    mailin,
    reachback,
    metrics,
    screenpop,
    privacy,
)
