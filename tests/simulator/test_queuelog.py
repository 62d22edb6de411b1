"""The simulator writes app_queue's queue_log: the line shapes of a real Asterisk 22, one story per queue call."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from uhd_telephony.simulator import AmiSimulator, default_config

REAL = Path(__file__).resolve().parent.parent / "data" / "queue-log" / "soak_c120.queue_log"
END = {
    "COMPLETEAGENT": "answered",
    "COMPLETECALLER": "answered",
    "BLINDTRANSFER": "answered",  # the first stay of a transferred call, answered then passed on
    "ABANDON": "abandoned",
    "EXITWITHTIMEOUT": "timeout",
    "EXITEMPTY": "overflow",
}


def _shapes(lines: list[str]) -> dict[str, int]:
    """Event -> number of fields, from queue_log lines."""
    shapes: dict[str, int] = {}
    for line in lines:
        fields = line.split("|")
        shapes.setdefault(fields[4], len(fields))
    return shapes


async def test_every_simulated_queue_call_is_in_the_queue_log_as_asterisk_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    config = default_config(2, max_wait_s=20)
    async with AmiSimulator(config, speed=0, queue_log=path) as sim:
        sim.place_call("+4923111", "Anna Antwortet", talk_s=20)
        sim.place_call("+4923112", "Bernd Verbunden", talk_s=20, ended_by="caller")
        sim.place_call("+4923113", "Carla Weiter", talk_s=30, transfer_to="backoffice", transfer_after_s=5)
        sim.place_call("+4923114", "Dora Geht", patience_s=3)
        sim.place_call("+4923115", "Emil Wartet", patience_s=None)
        await sim.settle()
        truth = sim.truth()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines and all(len(line.split("|")) >= 5 for line in lines)
    real = _shapes(REAL.read_text(encoding="utf-8").splitlines())
    for event, width in _shapes(lines).items():
        if event in real:
            assert width == real[event], event
    stories: dict[tuple[str, str], list[str]] = defaultdict(list)
    for line in lines:
        _, callid, queue, _, event, *_ = line.split("|")
        stories[(callid, queue)].append(event)
    assert set(stories) == {(t["uniqueid"], t["queue"]) for t in truth}
    for record in truth:
        story = stories[(record["uniqueid"], record["queue"])]
        assert story[0] == "ENTERQUEUE" and story[-1] in END
        assert sum(event in END for event in story) == 1
        assert END[story[-1]] == ("answered" if record["outcome"] == "transferred" else record["outcome"])
        if record["outcome"] in ("answered", "transferred"):
            (connect,) = [
                line for line in lines if f"|{record['uniqueid']}|{record['queue']}|" in line and "|CONNECT|" in line
            ]
            assert connect.split("|")[3] == record["agent"]
