"""Every table of the application in one place: importing this registers each capability's models on
``Base.metadata``, which Alembic's env.py and the schema tests compare against the migrations."""

from __future__ import annotations

# each capability's models, imported for their side effect of registering tables on Base.metadata
# (add a line here when a package gets a models.py)
from uhd_telephony.accounts import models as _accounts  # noqa: F401
from uhd_telephony.callbacks import models as _callbacks  # noqa: F401
from uhd_telephony.calls import models as _calls  # noqa: F401
from uhd_telephony.directory import models as _directory  # noqa: F401
from uhd_telephony.metrics import models as _metrics  # noqa: F401  (issue #6: kpi_daily)
from uhd_telephony.outbox import models as _outbox  # noqa: F401
from uhd_telephony.security import models as _security  # noqa: F401
from uhd_telephony.sla import models as _sla  # noqa: F401  (issue #7)
from uhd_telephony.store.models import Base
from uhd_telephony.tenants import models as _tenants  # noqa: F401
from uhd_telephony.tickets import models as _tickets  # noqa: F401

metadata = Base.metadata

__all__ = ["Base", "metadata"]
