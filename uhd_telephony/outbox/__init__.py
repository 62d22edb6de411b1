"""The durable outbox: mails and signed webhooks written in the business transaction, sent by one worker.

``enqueue`` and ``OutboxWorker`` are imported on first use: the schema imports ``outbox.models``, and that must
not pull in the SMTP and HTTP clients for every migration or import command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uhd_telephony.outbox.service import OutboxWorker, enqueue

__all__ = ["OutboxWorker", "enqueue"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from uhd_telephony.outbox import service

        return getattr(service, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
