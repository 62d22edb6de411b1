"""A seeded store (tenants A and B) with rows at chosen instants (``tests.privacy.rows.world``), SQLite and
PostgreSQL."""

from __future__ import annotations

from tests import dbfixtures
from tests.privacy.rows import world

aiosqlite_threads_finish = dbfixtures.aiosqlite_threads_finish

__all__ = ["aiosqlite_threads_finish", "world"]
