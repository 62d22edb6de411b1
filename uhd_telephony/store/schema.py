"""Every table of the application in one place: importing this registers each capability's models on
``Base.metadata``, which Alembic's env.py and the schema tests compare against the migrations."""

from __future__ import annotations

from uhd_telephony.store import models as _calls  # noqa: F401
from uhd_telephony.store.models import Base

# each capability's models, imported for their side effect of registering tables on Base.metadata
# (add a line here when a package gets a models.py)

metadata = Base.metadata

__all__ = ["Base", "metadata"]
