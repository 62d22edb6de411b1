"""Every pop of a tenant carries its open major incidents — read once and kept in memory: a pop costs no query for
them until one is declared, edited or resolved (also by its parent ticket). Through the console's WebSocket, on
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import event

from tests.screenpop.test_pop_sla import T0, answered, pop_of
from tests.support.webapp import TENANT_A, TENANT_B, Seeded, app_of, login
from tests.web.conftest import client, seeded
from uhd_telephony.calls.domain import CallAnswered
from uhd_telephony.screenpop.compose import ScreenPop
from uhd_telephony.store.db import Database
from uhd_telephony.web import keys

__all__ = ["client", "seeded"]


@contextmanager
def incident_reads(db: Database) -> Iterator[list[str]]:
    """The statements that read the incidents table while the block runs."""
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "major_incidents" in statement:
            seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)


async def test_the_pop_carries_the_open_incidents_without_a_query_per_pop(client: TestClient, seeded: Seeded) -> None:
    app = app_of(client)
    db, incidents = app[keys.DB], app[keys.INCIDENTS]
    await login(client, "anna")
    ws = await client.ws_connect("/ws/console")
    pops = ScreenPop(
        db, accounts=app[keys.ACCOUNTS], tickets=app[keys.TICKETS], callbacks=app[keys.CALLBACKS],
        directory=app[keys.DIRECTORY], fanout=app[keys.FANOUT],
    )  # fmt: skip
    actor = f"agent:{seeded.anna.id}"
    try:
        pops(CallAnswered(answered("1800000000.1"), T0 + 12))
        assert (await pop_of(ws))["incidents"] == []
        view = await incidents.declare(
            TENANT_A, title="KIS ausgefallen", caller_message="Das KIS ist gestört.", category="kis", actor=actor
        )
        await incidents.declare(
            TENANT_B, title="Süd: Netz", caller_message="Netz weg.", actor=f"agent:{seeded.carl.id}"
        )
        pops(CallAnswered(answered("1800000000.2"), T0 + 20))
        (shown,) = (await pop_of(ws))["incidents"]  # tenant A's only
        assert shown == {
            "id": view.id,
            "title": "KIS ausgefallen",
            "caller_message": "Das KIS ist gestört.",
            "category": "kis",
            "category_label": "KIS (Krankenhausinformationssystem)",
            "declared_at": shown["declared_at"],
            "declared_at_text": shown["declared_at_text"],
        }
        assert shown["declared_at"].endswith("Z") and "," in shown["declared_at_text"]["de"]
        assert set(shown["declared_at_text"]) == {"de", "en"}

        with incident_reads(db) as reads:
            for n in range(3, 6):
                pops(CallAnswered(answered(f"1800000000.{n}"), T0 + 30))
                assert [i["id"] for i in (await pop_of(ws))["incidents"]] == [view.id]
        assert reads == []  # nothing changed: no query for them

        await incidents.edit(TENANT_A, view.id, actor=actor, title="KIS und PACS ausgefallen")
        with incident_reads(db) as reads:
            pops(CallAnswered(answered("1800000000.6"), T0 + 40))
            assert [i["title"] for i in (await pop_of(ws))["incidents"]] == ["KIS und PACS ausgefallen"]
        assert len(reads) == 1

        # resolved on the ticket page: the history's hook drops the cached list too
        flow = incidents.workflow
        await flow.transition(TENANT_A, view.parent_ticket_id, "resolved", note="Behoben", actor=actor)
        pops(CallAnswered(answered("1800000000.7"), T0 + 50))
        assert (await pop_of(ws))["incidents"] == []
    finally:
        await pops.close()
        await ws.close()
