"""The durable outbox as the process runs it: its table and the worker that sends mail and webhooks.

The worker is told how to find a webhook's signing secret (``secrets``): the composition root chains the lookups of
the capabilities that own webhook URLs; the outbox itself imports none of them."""

from __future__ import annotations

from uhd_telephony.outbox.service import OutboxWorker, SecretLookup, first_secret
from uhd_telephony.runtime.plugin import Capability, Running, Runtime


def capability(*secrets: SecretLookup) -> Capability:
    """The outbox, signing webhooks with the first secret one of ``secrets`` knows."""

    def workers(rt: Runtime) -> list[Running]:
        worker = OutboxWorker(rt.db, rt.settings, mailer=rt.get("mailer"), secrets=first_secret(*secrets))
        rt.provide("outbox", worker)
        return [Running(worker, "outbox")]

    return Capability(name="outbox", models="uhd_telephony.outbox.models", workers=workers)
