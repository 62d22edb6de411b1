"""Every table of the application in one place: importing this registers the calls' tables and each capability's
(``Capability.models`` in app/plugins.py) on ``Base.metadata``, which Alembic's env.py and the schema tests compare
against the migrations."""

from __future__ import annotations

import importlib

from uhd_telephony.app.plugins import CAPABILITIES
from uhd_telephony.calls import models as _calls  # noqa: F401  (the calls and the queue_log marks)
from uhd_telephony.store.models import Base

for _capability in CAPABILITIES:
    if _capability.models is not None:
        importlib.import_module(_capability.models)

metadata = Base.metadata

__all__ = ["Base", "metadata"]
