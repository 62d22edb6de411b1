"""In-process event bus: the call tracker publishes domain events, capabilities subscribe.

A synchronous subscriber is called inline and must be quick (it typically hands the event to its own
queue). An async subscriber gets its own queue and worker task, owned by the bus, so a slow subscriber
never holds up the tracker or the others. A subscriber that raises is logged and counted, never fatal.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[Any], Awaitable[None] | None]


@dataclass(slots=True)
class _Subscriber:
    name: str
    handler: Handler
    types: tuple[type, ...] | None
    is_async: bool
    queue: asyncio.Queue[Any] | None = None
    task: asyncio.Task[None] | None = None
    errors: int = 0
    delivered: int = 0
    pending: list[Any] = field(default_factory=list)


def is_async_handler(handler: Handler) -> bool:
    """An ``async def`` function or method, or an object whose ``__call__`` is one (``iscoroutinefunction``
    alone says False for such an object: called inline, its coroutine would never run)."""
    call = None if inspect.isroutine(handler) else type(handler).__call__
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(call)


class Bus:
    """Publish/subscribe of domain events within one process."""

    def __init__(self) -> None:
        self._subscribers: list[_Subscriber] = []
        self._started = False
        self._closed = False

    def subscribe(self, handler: Handler, *types: type, name: str | None = None) -> None:
        """Deliver events of the given types (all when none given) to ``handler``."""
        if self._closed:
            raise RuntimeError("bus is closed")
        sub = _Subscriber(
            name=name or str(getattr(handler, "__qualname__", None) or repr(handler)),
            handler=handler,
            types=types or None,
            is_async=is_async_handler(handler),
        )
        self._subscribers.append(sub)
        if self._started and sub.is_async:
            self._start_worker(sub)

    async def start(self) -> None:
        """Start the workers of async subscribers (events published before are queued, not lost)."""
        self._started = True
        for sub in self._subscribers:
            if sub.is_async and sub.task is None:
                self._start_worker(sub)

    def publish(self, event: Any) -> None:
        for sub in self._subscribers:
            if sub.types is not None and not isinstance(event, sub.types):
                continue
            if sub.is_async:
                if sub.queue is None:
                    sub.pending.append(event)
                else:
                    sub.queue.put_nowait(event)
                continue
            try:
                sub.handler(event)
                sub.delivered += 1
            except Exception:
                sub.errors += 1
                log.exception("subscriber %s failed on %s", sub.name, type(event).__name__)

    def publish_many(self, events: Iterable[Any]) -> None:
        for event in events:
            self.publish(event)

    async def drain(self) -> None:
        """Wait until every async subscriber has handled what was published so far."""
        for sub in self._subscribers:
            if sub.queue is not None:
                await sub.queue.join()

    async def close(self) -> None:
        """Let async subscribers finish their queues, then stop their workers."""
        self._closed = True
        await self.drain()
        for sub in self._subscribers:
            if sub.task is not None:
                sub.task.cancel()
        for sub in self._subscribers:
            if sub.task is not None:
                try:
                    await sub.task
                except asyncio.CancelledError:
                    pass
                sub.task = None

    def stats(self) -> dict[str, dict[str, int]]:
        return {
            s.name: {
                "delivered": s.delivered,
                "errors": s.errors,
                "queued": s.queue.qsize() if s.queue is not None else len(s.pending),
            }
            for s in self._subscribers
        }

    def _start_worker(self, sub: _Subscriber) -> None:
        sub.queue = asyncio.Queue()
        for event in sub.pending:
            sub.queue.put_nowait(event)
        sub.pending.clear()
        sub.task = asyncio.create_task(self._work(sub), name=f"bus:{sub.name}")

    async def _work(self, sub: _Subscriber) -> None:
        assert sub.queue is not None
        while True:
            event = await sub.queue.get()
            try:
                await sub.handler(event)  # type: ignore[misc]
                sub.delivered += 1
            except Exception:
                sub.errors += 1
                log.exception("subscriber %s failed on %s", sub.name, type(event).__name__)
            finally:
                sub.queue.task_done()
