"""Requests by mail as the process runs them: the tables, the attachment and helpdesk-address routes, and the
LMTP/SMTP endpoint — a listener, so it runs in every process that serves the web (``UHD_MAIL_IN_LISTEN``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from uhd_telephony.mailin import api
from uhd_telephony.mailin import history as _history  # noqa: F401  (the history's "mail" rows in words)
from uhd_telephony.mailin.addresses import MailAddresses
from uhd_telephony.mailin.intake import MailIntake
from uhd_telephony.mailin.parts import Limits
from uhd_telephony.mailin.server import MailHandler, MailListener
from uhd_telephony.runtime.plugin import Capability, Running, Runtime
from uhd_telephony.settings import listen_address
from uhd_telephony.web import keys


async def services(app: web.Application) -> AsyncIterator[None]:
    app[api.MAIL_ADDRESSES] = MailAddresses(app[keys.DB])
    yield


def listeners(rt: Runtime) -> list[Running]:
    s = rt.settings
    if s.mail_in_listen is None:
        return []
    host, port = listen_address(s.mail_in_listen)
    handler = MailHandler(
        MailIntake(rt.web[keys.TICKETS], sent_from=s.mail_from),
        rt.web[api.MAIL_ADDRESSES],
        limits=Limits(attachment=s.mail_in_attachment_max_bytes, total=s.mail_in_attachments_max_bytes),
        clients=s.mail_in_clients,
    )
    listener = MailListener(
        handler, host=host, port=port, protocol=s.mail_in_protocol, max_bytes=s.mail_in_max_message_bytes
    )
    rt.provide("mail_in", listener)
    return [Running(listener, "mail_in")]


CAPABILITY = Capability(
    name="mailin", models="uhd_telephony.mailin.models", routes=api.add_routes, services=services, listeners=listeners
)
