"""The store's shared model plumbing: ``Base`` (one naming convention), UTC datetimes, JSON and id types.

Each capability keeps its tables in its own ``models.py`` on this ``Base``; the store itself has none."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer, MetaData, Table
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# One convention for every constraint and index name, so Alembic autogenerate names them the same way on
# SQLite and PostgreSQL and never sees a rename where there is none.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored in UTC; SQLite (which has no time zones) gets naive UTC text."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store only takes timezone-aware datetimes")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # stored as fixed-width "YYYY-MM-DD HH:MM:SS.ffffff", so text comparison is time order
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# JSONB on PostgreSQL (indexable, compact); plain JSON text elsewhere
JsonType = JSON().with_variant(JSONB(), "postgresql")
# BIGINT on PostgreSQL; SQLite only auto-increments a column declared exactly INTEGER
IdType = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JsonType, list[dict[str, Any]]: JsonType}


# the metadata's info key naming what a migration makes that no model describes (``unmanaged``)
UNMANAGED = "uhd_unmanaged"


def unmanaged(*names: str) -> None:
    """Name tables and indexes a migration makes that no model can describe — made by the database itself or on
    one dialect only (SQLite's FTS5 table and its shadow tables, a PostgreSQL expression index): Alembic's
    comparison (``include_object``, env.py and tests/store/test_migrate.py) leaves them alone."""
    Base.metadata.info.setdefault(UNMANAGED, set()).update(names)


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic's ``include_object``: everything but an ``unmanaged`` object found in the database."""
    return not (reflected and compare_to is None and name in Base.metadata.info.get(UNMANAGED, ()))


def table_of(model: type[Base]) -> Table:
    """The Core ``Table`` of a mapped model, for the modules that query with Core (``select(table_of(Call))``).

    The one way to get a model's table: SQLAlchemy types ``__table__`` as ``FromClause``; a declarative model on
    ``Base`` always has a ``Table``, which this checks instead of casting.
    """
    table = model.__table__
    if not isinstance(table, Table):  # pragma: no cover - only a model mapped to a join or a select
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return table
