"""Offline rendering: the complete AMI byte stream of N queue calls, and what really happened to each, at once.

For benchmarks and tracker tests: no sockets, no sleeping. ``render_calls(1000, seed=1)`` runs the same PBX
and load generator as the live simulator on a virtual clock and returns the bytes a client would have received
(banner, Login response, FullyBooted, then every event with synthetic, strictly increasing ``Timestamp``s) with
the ground truth per queue call. Concurrent calls interleave as their timers interleave.

Truth format (one dict per caller stay in one queue, in order of queue entry; a transferred call gives two
with the same ``uniqueid``)::

    uniqueid, linkedid, channel, tenant, dialled, queue, caller_number, caller_name,
    entered_at (epoch s), answered_at (answered/transferred only), outcome, agent (member name),
    agent_interface, wait_s, talk_s (floats, seconds), ended_by (agent|caller|transfer|None), rings (agent legs),
    callback_requested, queue_status (timeout/overflow: TIMEOUT, LEAVEEMPTY), transferred_to

``outcome`` is what app_queue did, like ``tests/data/ami-traces/*.truth.json``: ``answered``, ``abandoned``
(caller hung up while waiting, however short: short abandons are the tracker's classification), ``timeout``
(Queue() max wait), ``transferred``, ``overflow`` (LEAVEEMPTY), ``refused`` (JOINEMPTY).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uhd_telephony.simulator.clock import VirtualClock
from uhd_telephony.simulator.config import PbxConfig
from uhd_telephony.simulator.pbx import Pbx
from uhd_telephony.simulator.protocol import login_preamble
from uhd_telephony.simulator.scenario import LoadGenerator, Scenario

DEFAULT_START = 1_800_000_000.0  # 2027-01-15 08:00 UTC: a fixed epoch keeps renders byte-identical per seed


@dataclass(slots=True)
class Rendered:
    """The byte stream and the ground truth of one render."""

    data: bytes
    truth: list[dict[str, Any]]
    frames: int
    started: float
    ended: float
    calls: int

    def write(self, path: str | Path) -> tuple[Path, Path]:
        """Write ``<path>`` (raw AMI bytes) and ``<path minus suffix>.truth.json``."""
        path = Path(path)
        path.write_bytes(self.data)
        truth_path = path.with_suffix(".truth.json")
        truth_path.write_text(json.dumps(self.truth, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        return path, truth_path


def default_scenario(n_calls: int, concurrency: float, agents: int | None, tenants: int) -> Scenario:
    """Traffic that keeps about ``concurrency`` calls in progress with roughly as many agents: mixed outcomes."""
    talk, ring = 120.0, 4.0
    return Scenario(
        rate_per_hour=3600.0 * concurrency / (talk + ring + 15.0),
        agents=agents if agents is not None else max(2, round(concurrency)),
        tenants=tenants,
        talk_mean_s=talk,
        patience_mean_s=60.0,
        ring_s=ring,
        ring_no_answer_share=0.05,
        transfer_share=0.05,
        pause_rate_per_hour=0.5,
        pause_mean_s=240.0,
        max_wait_s=90.0,
        max_calls=n_calls,
    )


def render_calls(
    n_calls: int,
    *,
    seed: int = 0,
    concurrency: float = 4.0,
    agents: int | None = None,
    tenants: int = 1,
    start: float = DEFAULT_START,
    scenario: Scenario | None = None,
    config: PbxConfig | None = None,
    latin1: bool = False,
    preamble: bool = True,
    incidents: dict[str, tuple[str, str]] | None = None,
) -> Rendered:
    """Render ``n_calls`` hotline calls (mixed outcomes) to AMI bytes plus their ground truth, without sleeping.

    ``scenario`` overrides the traffic (its ``max_calls`` is set to ``n_calls``); ``config`` the PBX (default:
    the scenario's). ``latin1=True`` encodes the stream in Latin-1 like a misconfigured system (characters
    Latin-1 lacks become ``?``). ``incidents``: tenant -> (UHD_INCIDENT, UHD_INCIDENT_PROMPT) of its open major
    incidents, announced to its callers throughout (``Pbx.set_incidents``).
    """
    if scenario is None:
        scenario = default_scenario(n_calls, concurrency, agents, tenants)
    else:
        scenario.max_calls = n_calls
    clock = VirtualClock(start)
    frames: list[str] = []
    append = frames.append
    pbx = Pbx(config or scenario.pbx_config(), clock, lambda frame, _privilege: append(frame), seed=seed)
    for tenant, (incident, prompts) in (incidents or {}).items():
        pbx.set_incidents(tenant, incident, prompts)
    generator = LoadGenerator(pbx, scenario, seed=seed)
    generator.start()
    # one timer at a time: the agents' pause cycles never end by themselves, the last call does
    while not (generator.finished and not pbx.active()):
        if not clock.run(max_timers=1):
            break
    generator.stop()
    encoding = "latin-1" if latin1 else "utf-8"
    head = login_preamble(uptime=1) if preamble else b""
    data = head + "".join(frames).encode(encoding, "replace")
    truth = sorted(pbx.truth, key=lambda r: (r["entered_at"], r["uniqueid"]))
    return Rendered(
        data=data, truth=truth, frames=pbx.em.frames, started=start, ended=clock.now(), calls=generator.placed
    )
