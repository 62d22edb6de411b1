"""Store fixtures: the shared database fixtures, registered for this package."""

from __future__ import annotations

from tests import dbfixtures

aiosqlite_threads_finish = dbfixtures.aiosqlite_threads_finish
db = dbfixtures.db
