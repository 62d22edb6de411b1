"""What the simulated PBX is made of: hotlines (tenant numbers), queues, members and how their phones behave.

The defaults are production-shaped: callers arrive on a SIP trunk (``PJSIP/trunk-0000001a``) with ``Exten`` set to
the hotline number they dialled, agents are PJSIP phones (member ``Interface: PJSIP/101``). The recorded test PBX
in ``tests/data/ami-traces`` used Local channels instead; the queue events are the same either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from uhd_telephony.ami import names

AGENT_NAMES = (
    "Anna Becker",
    "Ben Schäfer",
    "Clara Wolf",
    "David Krüger",
    "Emma Hoffmann",
    "Felix Schröder",
    "Greta Neumann",
    "Hannah Braun",
    "Jonas Zimmermann",
    "Katrin Hartmann",
    "Lukas Lange",
    "Mia Köhler",
)


@dataclass(slots=True)
class PhoneBehaviour:
    """How one agent phone answers a ring: after ``ring_s``, never, or busy at once."""

    ring_s: float = 2.0
    never_answer: bool = False
    busy: bool = False
    no_answer_share: float = 0.0  # chance that one ring is left to run out (agent away from the desk)
    talk_s: float | None = None  # fixed talk time for this agent; None: the call's own talk time
    # a person works this phone (``simulator.softphone``: answer, hang up): it rings like any other but never
    # picks up by itself; ``talk_s`` is then how long a caller stays on the line at most (None: until hung up)
    manual: bool = False
    # a ring that runs out pauses the member in all its queues (app_queue's ``autopause=all``, PausedReason
    # Auto-Pause): a person who left the desk does not hold up every caller
    autopause: bool = False


@dataclass(slots=True)
class MemberConfig:
    """A static queue member (queues.conf ``member => interface,penalty,membername``)."""

    interface: str
    name: str
    penalty: int = 0
    paused: bool = False
    paused_reason: str = ""
    wrapup_s: int = 0
    behaviour: PhoneBehaviour = field(default_factory=PhoneBehaviour)


@dataclass(slots=True)
class QueueConfig:
    """One app_queue queue; ``context`` is where a blind transfer lands to reach it (``s@<context>``)."""

    name: str
    members: list[MemberConfig] = field(default_factory=list)
    strategy: str = "rrmemory"  # rrmemory or ringall
    timeout_s: float = 15.0  # how long one member rings before AgentRingNoAnswer
    retry_s: float = 1.0
    max_wait_s: float | None = 60.0  # the Queue() timeout argument (MAXWAIT in the dialplan)
    joinempty: bool = True  # False: refuse callers when no member is available (QUEUESTATUS=JOINEMPTY)
    leavewhenempty: bool = False  # True: release waiting callers when no member is available (LEAVEEMPTY)
    servicelevel: int = 20
    weight: int = 0
    maxlen: int = 0
    context: str = ""

    def __post_init__(self) -> None:
        if self.strategy not in ("rrmemory", "ringall"):
            raise ValueError(f"unsupported queue strategy {self.strategy!r} (rrmemory or ringall)")
        if not self.context:
            self.context = f"{self.name}-in"


@dataclass(slots=True)
class HotlineConfig:
    """A tenant's hotline number: the DID the trunk delivers (``Exten``) and the queue it leads to."""

    number: str
    queue: str
    tenant: str = "default"
    trunk: str = "trunk"  # the caller channel is PJSIP/<trunk>-xxxxxxxx
    context: str = "hotline-in"
    language: str = "en"
    agi_lookup: bool = False  # the AGI caller lookup sets UHD_TENANT / UHD_USER_* before Queue()


@dataclass(slots=True)
class PbxConfig:
    """The whole simulated PBX."""

    queues: list[QueueConfig]
    hotlines: list[HotlineConfig]
    agent_context: str = "agents"  # the PJSIP endpoints' context (Context of agent legs)
    callback_context: str = "callbacks"  # where an Originate for a callback dials the number
    callback_trunk: str = "trunk"
    callee_answer_s: float = 3.0  # an external number called back answers after this long
    callee_talk_s: float = 60.0
    # manager.conf channelvars of asterisk/manager.conf: ChanVariable lines in every channel snapshot
    channelvars: tuple[str, ...] = names.CHANNEL_VARS

    def queue(self, name: str) -> QueueConfig:
        for q in self.queues:
            if q.name == name:
                return q
        raise KeyError(f"no queue {name!r} in the simulator configuration")

    def hotline(self, number: str) -> HotlineConfig:
        for h in self.hotlines:
            if h.number == number:
                return h
        raise KeyError(f"no hotline {number!r} in the simulator configuration")


def agent_members(count: int, *, first_ext: int = 101, tech: str = "PJSIP", ring_s: float = 2.0) -> list[MemberConfig]:
    """``count`` agent members ``PJSIP/101``, ``PJSIP/102`` … with German names."""
    members = []
    for i in range(count):
        ext = first_ext + i
        name = AGENT_NAMES[i % len(AGENT_NAMES)]
        if i >= len(AGENT_NAMES):
            name = f"{name} {i // len(AGENT_NAMES) + 1}"
        members.append(MemberConfig(f"{tech}/{ext}", name, behaviour=PhoneBehaviour(ring_s=ring_s)))
    return members


def default_config(
    agents: int = 6,
    *,
    tenants: int = 1,
    agi_lookup: bool = False,
    max_wait_s: float | None = 60.0,
    backoffice: bool = True,
    queue_per_tenant: bool = False,
) -> PbxConfig:
    """A helpdesk: ``tenants`` hotlines (``+49231990001``…, tenants ``tenant1``…) into queue ``hotline``.

    One shared 1st-level queue ``hotline`` (rrmemory, 15 s ring, 1 s retry) with ``agents`` PJSIP members, and a
    2nd-level queue ``backoffice`` (ringall) with one member ``PJSIP/201``, the target of blind transfers. With
    ``queue_per_tenant`` each hotline has its own queue ``hotline-tenantN``, all served by the same agents
    (one phone, several queue memberships, as in a shared helpdesk).
    """
    if queue_per_tenant:
        queues = [
            QueueConfig(f"hotline-tenant{i + 1}", agent_members(agents), max_wait_s=max_wait_s) for i in range(tenants)
        ]
    else:
        queues = [QueueConfig("hotline", agent_members(agents), max_wait_s=max_wait_s)]
    if backoffice:
        queues.append(
            QueueConfig(
                "backoffice",
                [MemberConfig("PJSIP/201", "Bob Backoffice")],
                strategy="ringall",
                max_wait_s=120.0,
            )
        )
    hotlines = [
        HotlineConfig(
            f"+4923199000{i + 1}",
            queues[i].name if queue_per_tenant else "hotline",
            tenant=f"tenant{i + 1}",
            agi_lookup=agi_lookup,
        )
        for i in range(tenants)
    ]
    return PbxConfig(queues=queues, hotlines=hotlines)


def copy_config(config: PbxConfig) -> PbxConfig:
    """A deep copy, so a running PBX never changes the caller's configuration objects."""
    return replace(
        config,
        queues=[
            replace(
                q,
                members=[replace(m, behaviour=replace(m.behaviour)) for m in q.members],
            )
            for q in config.queues
        ],
        hotlines=[replace(h) for h in config.hotlines],
    )
