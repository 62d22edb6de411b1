"""Typed application state: what the web handlers reach through ``request.app[...]``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from uhd_telephony.accounts.service import AccountService
    from uhd_telephony.ami.client import AmiClient
    from uhd_telephony.callbacks.service import CallbackService
    from uhd_telephony.directory.lookup import DirectoryIndex
    from uhd_telephony.directory.repository import DirectoryRepository
    from uhd_telephony.screenpop.fanout import Fanout
    from uhd_telephony.screenpop.hub import PopHub
    from uhd_telephony.settings import Settings
    from uhd_telephony.store.db import Database
    from uhd_telephony.tickets.service import TicketService

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
DB: web.AppKey[Database] = web.AppKey("db")
ACCOUNTS: web.AppKey[AccountService] = web.AppKey("accounts")
TICKETS: web.AppKey[TicketService] = web.AppKey("tickets")
CALLBACKS: web.AppKey[CallbackService] = web.AppKey("callbacks")
DIRECTORY: web.AppKey[DirectoryIndex] = web.AppKey("directory")
DIRECTORY_REPO: web.AppKey[DirectoryRepository] = web.AppKey("directory_repo")
HUB: web.AppKey[PopHub] = web.AppKey("hub")
FANOUT: web.AppKey[Fanout] = web.AppKey("fanout")
AMI: web.AppKey[Callable[[], AmiClient | None]] = web.AppKey("ami")
HEALTH: web.AppKey[Any] = web.AppKey("health")
