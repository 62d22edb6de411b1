"""A seeded store (tenants A and B, each with the example directory) and rows of every data class at chosen
instants, on SQLite and PostgreSQL (``tests.privacy.rows.world``)."""

from __future__ import annotations

from tests import dbfixtures
from tests.privacy.rows import world

aiosqlite_threads_finish = dbfixtures.aiosqlite_threads_finish

__all__ = ["aiosqlite_threads_finish", "world"]
