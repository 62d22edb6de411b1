"""The open agent consoles of this web process, and delivery of a pop to exactly one agent's consoles."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 2.0  # a console that cannot take a pop in this time is dropped, not waited for


class Socket(Protocol):
    """What the hub needs of a WebSocket (aiohttp's WebSocketResponse has it)."""

    @property
    def closed(self) -> bool: ...

    async def send_str(self, data: str, compress: int | None = None) -> None: ...


@dataclass(slots=True, eq=False)
class Console:
    """One open console: whose it is and which tenants that agent works for."""

    agent_id: int
    tenants: frozenset[str]
    socket: Socket
    delivered: int = 0


@dataclass(slots=True)
class HubStats:
    consoles: int = 0
    delivered: int = 0
    refused_tenant: int = 0
    failed: int = 0
    no_console: int = 0
    by_agent: dict[int, int] = field(default_factory=dict)


class PopHub:
    """Keeps the consoles connected to this process and sends each pop to its agent's consoles only."""

    def __init__(self) -> None:
        self._consoles: dict[int, set[Console]] = {}
        self.stats = HubStats()

    def add(self, console: Console) -> None:
        self._consoles.setdefault(console.agent_id, set()).add(console)
        self.stats.consoles += 1

    def remove(self, console: Console) -> None:
        consoles = self._consoles.get(console.agent_id)
        if consoles is None or console not in consoles:
            return
        consoles.discard(console)
        self.stats.consoles -= 1
        if not consoles:
            del self._consoles[console.agent_id]

    def consoles_of(self, agent_id: int) -> int:
        return len(self._consoles.get(agent_id, ()))

    async def deliver(self, message: Mapping[str, Any], text: str) -> int:
        """Send ``text`` (the JSON of ``message``) to the consoles of ``message['agent_id']``.

        A console only gets a message of a tenant its agent works for, whatever the message says.
        Returns how many consoles got it.
        """
        agent_id = message.get("agent_id")
        consoles = self._consoles.get(agent_id) if isinstance(agent_id, int) else None
        if not consoles:
            self.stats.no_console += 1
            return 0
        tenant = message.get("tenant")
        targets = []
        for console in list(consoles):
            if tenant not in console.tenants:
                self.stats.refused_tenant += 1
                log.warning("pop for tenant %s withheld from agent %s (not one of their tenants)", tenant, agent_id)
                continue
            targets.append(console)
        results = await asyncio.gather(*(self._send(c, text) for c in targets))
        sent = sum(results)
        self.stats.delivered += sent
        return sent

    async def _send(self, console: Console, text: str) -> bool:
        if console.socket.closed:
            self.remove(console)
            return False
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await console.socket.send_str(text)
        except (TimeoutError, ConnectionError, RuntimeError) as exc:
            self.stats.failed += 1
            log.info("console of agent %s dropped: %s", console.agent_id, exc or type(exc).__name__)
            self.remove(console)
            return False
        console.delivered += 1
        return True
