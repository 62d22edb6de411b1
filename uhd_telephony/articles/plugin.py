"""Solution articles (Sofort-Support): their tables, the article API, and on tickets the articles used (the ticket
JSON's ``articles`` and the history in words: ``articles.view``)."""

from __future__ import annotations

from uhd_telephony.articles import api, view  # noqa: F401  (view: the ticket JSON's field and the history's words)
from uhd_telephony.runtime.plugin import Capability

CAPABILITY = Capability(name="articles", models="uhd_telephony.articles.models", routes=api.add_routes)
