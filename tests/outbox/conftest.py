"""Outbox fixtures: a migrated database (SQLite and PostgreSQL), a real SMTP server, a real webhook receiver."""

from __future__ import annotations

from tests import dbfixtures
from tests.outbox import sinks

# the shared database fixtures and the receivers, registered for this package
aiosqlite_threads_finish = dbfixtures.aiosqlite_threads_finish
db = dbfixtures.db
smtp = sinks.smtp
hooks = sinks.hooks
sender = sinks.sender
