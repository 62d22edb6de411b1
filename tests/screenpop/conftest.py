"""Screen-pop fixtures: a PostgreSQL connection a test can cut."""

from tests.support.proxy import pg_proxy  # noqa: F401  (the fixture)
