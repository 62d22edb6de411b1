"""Load generation: Poisson arrivals of hotline callers with talk-time and patience distributions, agent pauses.

Everything is drawn from one seeded ``random.Random``, and scheduled on the PBX's clock, so the same seed gives
the same calls whether they run live (paced by ``speed``) or offline (``render_calls``). Callers come from a
per-tenant directory with German and other non-ASCII names ("Jürgen Müller", "Zoë Weiß"); some withhold their
number; with ``agi_lookup`` the known ones get the UHD_* variables the AGI caller lookup sets. While a tenant has
an open major incident (``Pbx.set_incidents``), its callers hear the announcement: ``incident_subscribe_share``
of them press the key and hang up, ``incident_hangup_share`` hang up during it, the rest queue as ever.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from uhd_telephony.ami import names
from uhd_telephony.simulator import announcement
from uhd_telephony.simulator.clock import Timer
from uhd_telephony.simulator.config import PbxConfig, default_config
from uhd_telephony.simulator.pbx import Pbx, PbxError

CALLER_NAMES = (
    "Jürgen Müller",
    "Zoë Weiß",
    "Dr. Meier",
    "Erika Mustermann",
    "Klaus Weber",
    "Maria Fischer",
    "Özlem Çelik",
    "Björn Schäfer",
    "Renée Dubois",
    "Dr. med. Günther Groß",
    "Station 3B Kardiologie",
    "Ambulanz Süd",
    "Åsa Lindqvist",
    "Chloé Lefèvre",
    "Łukasz Wójcik",
    "Hans Testkunde",
    "Prof. Dr. Jörg Nüßlein",
    "Frauke Bäumer",
)
PAUSE_REASONS = ("Pause", "Rückruf", "Besprechung", "Mittagspause", "Schulung")


@dataclass(slots=True)
class Scenario:
    """The traffic to generate; ``pbx_config()`` builds a matching PBX (agents, tenants, phone behaviour)."""

    rate_per_hour: float = 120.0
    agents: int = 6
    tenants: int = 1
    talk_mean_s: float = 180.0
    talk_dist: str = "lognormal"  # lognormal, exponential or fixed
    talk_sigma: float = 0.6
    patience_mean_s: float = 90.0
    patience_dist: str = "exponential"  # exponential, lognormal or fixed
    ring_s: float = 4.0  # mean seconds an agent lets the phone ring before answering
    ring_no_answer_share: float = 0.05  # share of rings nobody answers (AgentRingNoAnswer after the ring timeout)
    caller_hangup_share: float = 0.3  # share of conversations the caller ends (AgentComplete Reason=caller)
    transfer_share: float = 0.05  # share of answered calls blind-transferred to ``transfer_queue``
    transfer_queue: str = "backoffice"
    pause_rate_per_hour: float = 0.5  # per agent
    pause_mean_s: float = 300.0
    anonymous_share: float = 0.03
    known_caller_share: float = 0.85  # callers the AGI lookup finds in the directory
    agi_lookup: bool = True
    max_wait_s: float | None = 120.0
    max_calls: int | None = None
    directory_size: int = 200  # callers per tenant
    queue_per_tenant: bool = False  # each tenant's hotline its own queue (same agents) instead of one shared
    # callers of a tenant with an open major incident: who presses the key, who hangs up during the announcement
    incident_subscribe_share: float = 0.25
    incident_hangup_share: float = 0.25
    announcement_s: float = 12.0  # the announcement's length: the key is pressed, or the caller hangs up, within it

    @classmethod
    def per_second(cls, rate: float, **kwargs: Any) -> Scenario:
        """A scenario with its arrival rate given in calls per second."""
        return cls(rate_per_hour=rate * 3600.0, **kwargs)

    @property
    def rate_per_s(self) -> float:
        return self.rate_per_hour / 3600.0

    def pbx_config(self) -> PbxConfig:
        config = default_config(
            self.agents,
            tenants=self.tenants,
            agi_lookup=self.agi_lookup,
            max_wait_s=self.max_wait_s,
            queue_per_tenant=self.queue_per_tenant,
        )
        for queue in config.queues:
            for member in queue.members:
                member.behaviour.ring_s = self.ring_s
                member.behaviour.no_answer_share = self.ring_no_answer_share
        return config


@dataclass(slots=True, frozen=True)
class Caller:
    """One person in a tenant's directory."""

    number: str
    name: str
    user_id: str
    vip: bool
    known: bool


def draw(rng: random.Random, dist: str, mean: float, sigma: float = 0.6) -> float:
    """A positive sample with the given mean."""
    if mean <= 0:
        return 0.0
    if dist == "fixed":
        return mean
    if dist == "exponential":
        return rng.expovariate(1.0 / mean)
    if dist == "lognormal":
        return rng.lognormvariate(math.log(mean) - sigma * sigma / 2.0, sigma)
    raise ValueError(f"unknown distribution {dist!r} (fixed, exponential, lognormal)")


def directory(rng: random.Random, tenant: str, size: int, known_share: float) -> list[Caller]:
    """A tenant's callers: E.164, national and internal-extension numbers, a few VIPs and shared ward phones."""
    people = []
    for i in range(size):
        name = CALLER_NAMES[rng.randrange(len(CALLER_NAMES))]
        style = rng.random()
        if style < 0.6:
            number = f"+49231{rng.randrange(1_000_000, 9_999_999)}"
        elif style < 0.85:
            number = f"0231{rng.randrange(1_000_000, 9_999_999)}"
        else:
            number = str(rng.randrange(2000, 7999))  # internal extension
        people.append(
            Caller(number, name, f"{tenant}-u{i + 1:04d}", vip=rng.random() < 0.05, known=rng.random() < known_share)
        )
    return people


class LoadGenerator:
    """Places scenario calls and pauses agents on the PBX's clock; ``stop()`` cancels what is scheduled."""

    def __init__(self, pbx: Pbx, scenario: Scenario, seed: int = 0) -> None:
        self.pbx = pbx
        self.scenario = scenario
        self.rng = random.Random(seed)
        self.placed = 0
        self._timers: list[Timer] = []
        self._next: Timer | None = None
        self.directories = {
            h.tenant: directory(self.rng, h.tenant, scenario.directory_size, scenario.known_caller_share)
            for h in pbx.config.hotlines
        }

    @property
    def finished(self) -> bool:
        """All ``max_calls`` placed (never, without a limit)."""
        limit = self.scenario.max_calls
        return limit is not None and self.placed >= limit

    def start(self) -> None:
        if self.scenario.rate_per_hour > 0:
            self._schedule_arrival()
        if self.scenario.pause_rate_per_hour > 0:
            hotline_queues = {h.queue for h in self.pbx.config.hotlines}
            interfaces = {i for q in hotline_queues for i in self.pbx.queue(q).members}
            # a person's phone (softphone.py) pauses when the person says so, never at random
            interfaces = {i for i in interfaces if not self.pbx.devices[i].behaviour.manual}
            for interface in sorted(interfaces):
                self._schedule_pause(interface)

    def stop(self) -> None:
        if self._next is not None:
            self._next.cancel()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def _schedule_arrival(self) -> None:
        if self.finished:
            return
        delay = self.rng.expovariate(self.scenario.rate_per_s)
        self._next = self.pbx.clock.call_later(delay, self._arrive)

    def _arrive(self) -> None:
        self.place_one()
        self._schedule_arrival()

    def place_one(self) -> None:
        """One caller from the scenario's distributions dials one of the hotlines."""
        sc, rng, pbx = self.scenario, self.rng, self.pbx
        hotline = pbx.config.hotlines[rng.randrange(len(pbx.config.hotlines))]
        caller = self.directories[hotline.tenant][rng.randrange(sc.directory_size)]
        withheld = rng.random() < sc.anonymous_share
        lookup = None
        if hotline.agi_lookup:
            lookup = {names.VAR_TENANT: hotline.tenant, names.VAR_VIP: "1" if caller.vip and not withheld else "0"}
            if caller.known and not withheld:
                lookup[names.VAR_USER_ID] = caller.user_id
                lookup[names.VAR_USER_NAME] = caller.name
        transfer = sc.transfer_queue if sc.transfer_queue in pbx.queues and rng.random() < sc.transfer_share else None
        at_announcement, listen = self._at_announcement(hotline.tenant)
        talk = max(draw(rng, sc.talk_dist, sc.talk_mean_s, sc.talk_sigma), 1.0)
        pbx.place_call(
            caller.number,
            caller.name,
            dialled=hotline.number,
            patience_s=max(draw(rng, sc.patience_dist, sc.patience_mean_s), 0.5),
            talk_s=talk,
            ended_by="caller" if rng.random() < sc.caller_hangup_share else "agent",
            transfer_to=transfer,
            transfer_after_s=talk * rng.uniform(0.2, 0.6) if transfer else None,
            lookup=lookup,
            withheld=withheld,
            at_announcement=at_announcement,
            listen_s=listen,
        )
        self.placed += 1

    def _at_announcement(self, tenant: str) -> tuple[str, float]:
        """What a caller does at the tenant's incident announcement, and after how many seconds (drawn only while
        the tenant has one: a scenario without incidents draws the same numbers as before)."""
        if tenant not in self.pbx.incidents:
            return announcement.QUEUE, 0.0
        sc, rng = self.scenario, self.rng
        choice = rng.random()
        listen = rng.uniform(0.3, 1.0) * sc.announcement_s
        if choice < sc.incident_subscribe_share:
            return announcement.SUBSCRIBE, listen
        if choice < sc.incident_subscribe_share + sc.incident_hangup_share:
            return announcement.HANGUP, listen
        return announcement.QUEUE, sc.announcement_s

    def _schedule_pause(self, interface: str) -> None:
        now = self.pbx.clock.now()
        self._timers = [t for t in self._timers if t.when > now and not t.cancelled]
        delay = self.rng.expovariate(self.scenario.pause_rate_per_hour / 3600.0)
        self._timers.append(self.pbx.clock.call_later(delay, lambda: self._pause(interface)))

    def _pause(self, interface: str) -> None:
        reason = PAUSE_REASONS[self.rng.randrange(len(PAUSE_REASONS))]
        try:
            self.pbx.pause(interface, True, reason)
        except PbxError:  # removed from its queues meanwhile (QueueRemove): no more pauses for it
            return
        duration = draw(self.rng, "exponential", self.scenario.pause_mean_s)
        self._timers.append(self.pbx.clock.call_later(duration, lambda: self._unpause(interface)))

    def _unpause(self, interface: str) -> None:
        try:
            self.pbx.pause(interface, False)
        except PbxError:
            return
        self._schedule_pause(interface)
