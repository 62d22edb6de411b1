"""What the screen-pop needs from the capabilities it works with: the accounts, the tickets, the callback list,
the caller directory and the fan-out to the consoles. ``ScreenPop`` is typed with these; the services of those
packages (``AccountService``, ``TicketService``, ``CallbackService``, ``DirectoryIndex``, ``LocalFanout`` /
``RedisFanout``) satisfy them, and a test may hand it anything that does."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from uhd_telephony.calls.records import CallRecord
from uhd_telephony.tickets.requester import DirectoryMatch
from uhd_telephony.tickets.service import AfterInsert
from uhd_telephony.tickets.view import TicketView


class Agent(Protocol):
    """The account of the agent who answered (``accounts.service.AccountView``)."""

    @property
    def id(self) -> int: ...

    @property
    def display_name(self) -> str: ...


class Accounts(Protocol):
    version: int  # moves with every change of this process to the accounts (a remembered agent is stale then)

    async def agent_for_call(self, interface: str | None, member_name: str | None) -> Agent | None:
        """The active agent who answered, from AgentConnect's ``Interface`` and ``MemberName``; None: no account."""
        ...


class CallTickets(Protocol):
    async def open_for_call(
        self,
        call: CallRecord,
        *,
        requester: Mapping[str, Any] | DirectoryMatch | None = None,
        agent_id: int | None = None,
        agent_name: str | None = None,
        then: AfterInsert | None = None,
    ) -> tuple[TicketView, bool]:
        """The ticket of the call's conversation: (new ticket, True) or (the existing one, False)."""
        ...

    async def recent_for_requester(
        self,
        tenant: str,
        *,
        user_id: int | None = None,
        number: str | None = None,
        limit: int = 5,
        exclude_id: int | None = None,
    ) -> list[TicketView]:
        """A requester's newest tickets, newest first."""
        ...


class Callbacks(Protocol):
    async def on_call_offered(self, call: CallRecord) -> Sequence[object]:
        """The caller calls again: their open entries are done; the entries cleared."""
        ...

    async def on_call_ended(self, call: CallRecord, *, user_id: int | None = None) -> object | None:
        """The entry an ended unanswered call gets when the callback rules want one, else None."""
        ...


class Directory(Protocol):
    def lookup(self, tenant: str, raw_number: str | None) -> DirectoryMatch:
        """Who the caller ID is in the tenant (``directory.lookup.LookupResult``)."""
        ...


class PopFanout(Protocol):
    """The screen-pop's side of ``screenpop.fanout.Fanout``."""

    async def publish(self, message: dict[str, Any]) -> bool:
        """Deliver to the agent's consoles; False when another instance published the same message already."""
        ...

    async def end(self, agent_id: int, linkedid: str) -> None:
        """The call is over: it is no longer the agent's current pop."""
        ...
