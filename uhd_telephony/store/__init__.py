"""Persistence: SQLAlchemy models, Alembic migrations, the batched call-record writer."""
