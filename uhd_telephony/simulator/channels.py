"""Simulated channels and bridges, and the header blocks every channel event repeats.

A channel event carries the channel's snapshot (``Channel`` … ``Linkedid``, 14 headers) and often the peer's
with a ``Dest`` prefix; most of the bytes of an AMI stream are these blocks. They are built once per change of
the channel and reused, which is what lets ``render_calls`` produce a thousand calls in about a second.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from uhd_telephony.ami import names

UNKNOWN = "<unknown>"

# ast_state2str()
STATE_DESC = {0: "Down", 1: "Rsrvd", 2: "OffHook", 3: "Dialing", 4: "Ring", 5: "Ringing", 6: "Up", 7: "Busy"}
DOWN, RING, RINGING, UP = 0, 4, 5, 6

_BLOCK_KEYS = names.CHANNEL_HEADERS


def shown(value: str | None) -> str:
    """How AMI shows a caller-ID part: an unset or empty one is ``<unknown>``."""
    return value if value else UNKNOWN


class Channel:
    """One simulated channel: its snapshot fields, its current application and bridge."""

    __slots__ = (
        "_block",
        "_dest",
        "accountcode",
        "app",
        "app_data",
        "bridge",
        "chanvars",
        "cid_name",
        "cid_num",
        "conn_name",
        "conn_num",
        "context",
        "created",
        "device",
        "exten",
        "language",
        "linkedid",
        "name",
        "priority",
        "state",
        "uniqueid",
        "variables",
    )

    def __init__(
        self,
        name: str,
        uniqueid: str,
        linkedid: str,
        *,
        created: float,
        device: str,
        state: int = DOWN,
        cid_num: str = "",
        cid_name: str = "",
        context: str = "default",
        exten: str = "s",
        language: str = "en",
        chanvars: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.chanvars = chanvars  # manager.conf channelvars: shown as ChanVariable in every snapshot block
        self.uniqueid = uniqueid
        self.linkedid = linkedid
        self.created = created
        self.device = device
        self.state = state
        self.cid_num = cid_num
        self.cid_name = cid_name
        self.conn_num = ""
        self.conn_name = ""
        self.context = context
        self.exten = exten
        self.priority = 1
        self.language = language
        self.accountcode = ""
        self.app = ""
        self.app_data = ""
        self.bridge: Bridge | None = None
        self.variables: dict[str, str] = {}
        self._block: str | None = None
        self._dest: str | None = None

    def changed(self) -> None:
        """Forget the cached header blocks after a snapshot field changed."""
        self._block = None
        self._dest = None

    def set_state(self, state: int) -> None:
        self.state = state
        self.changed()

    def set_callerid(self, num: str, name: str) -> None:
        self.cid_num, self.cid_name = num, name
        self.changed()

    def set_connected(self, num: str, name: str) -> None:
        self.conn_num, self.conn_name = num, name
        self.changed()

    def goto(self, context: str, exten: str, priority: int) -> None:
        self.context, self.exten, self.priority = context, exten, priority
        self.changed()

    def values(self) -> tuple[str, ...]:
        return (
            self.name,
            str(self.state),
            STATE_DESC.get(self.state, "Unknown"),
            shown(self.cid_num),
            shown(self.cid_name),
            shown(self.conn_num),
            shown(self.conn_name),
            self.language,
            self.accountcode,
            self.context,
            self.exten,
            str(self.priority),
            self.uniqueid,
            self.linkedid,
        )

    def block(self) -> str:
        """``Channel: …\\r\\n`` … ``Linkedid: …\\r\\n``, cached until the channel changes."""
        block = self._block
        if block is None:
            block = self._block = prefixed(self, "")
        return block

    def dest_block(self) -> str:
        """The same snapshot with the ``Dest`` prefix (DialBegin, AgentCalled, …)."""
        block = self._dest
        if block is None:
            block = self._dest = prefixed(self, "Dest")
        return block


def prefixed(channel: Channel, prefix: str) -> str:
    """The channel snapshot with every key prefixed (``Dest``, ``Transferer``, ``Transferee``)."""
    block = "".join(f"{prefix}{k}: {v}\r\n" for k, v in zip(_BLOCK_KEYS, channel.values(), strict=True))
    if channel.chanvars:
        # ast_manager_build_channel_state_string: one line per channelvars name, empty when unset
        variables = channel.variables
        block += "".join(f"{prefix}ChanVariable: {n}={variables.get(n, '')}\r\n" for n in channel.chanvars)
    return block


class Bridge:
    """A basic two-party bridge (queue caller and agent)."""

    __slots__ = ("channels", "uniqueid")

    def __init__(self, uniqueid: str) -> None:
        self.uniqueid = uniqueid
        self.channels: list[Channel] = []

    def block(self) -> str:
        return (
            f"BridgeUniqueid: {self.uniqueid}\r\nBridgeType: basic\r\nBridgeTechnology: simple_bridge\r\n"
            f"BridgeCreator: <unknown>\r\nBridgeName: <unknown>\r\nBridgeNumChannels: {len(self.channels)}\r\n"
            "BridgeVideoSourceMode: none\r\n"
        )


def device_of(interface: str) -> str:
    """The device a member interface's state comes from: ``Local/101@agents/n`` → ``Local/101@agents``."""
    if interface.startswith("Local/") and interface.endswith("/n"):
        return interface[:-2]
    return interface


class ChannelFactory:
    """Names and ids as Asterisk gives them: ``PJSIP/101-0000001b``, Uniqueid ``<epoch>.<seq>``."""

    def __init__(
        self, now: Callable[[], float], rng: random.Random, *, first_seq: int = 0, chanvars: tuple[str, ...] = ()
    ) -> None:
        self._now = now
        self._chanvars = chanvars
        self._rng = rng
        self._uid_seq = first_seq
        self._name_seq = first_seq

    def uniqueid(self) -> str:
        uid = f"{int(self._now())}.{self._uid_seq}"
        self._uid_seq += 1
        return uid

    def new(
        self,
        interface: str,
        *,
        linkedid: str | None = None,
        uniqueid: str | None = None,
        state: int = DOWN,
        cid_num: str = "",
        cid_name: str = "",
        context: str = "default",
        exten: str = "s",
        language: str = "en",
    ) -> Channel:
        """A channel on ``interface`` (``PJSIP/101``, ``PJSIP/trunk``, ``Local/101@agents/n``)."""
        seq = self._name_seq
        self._name_seq += 1
        if interface.startswith("Local/"):
            # only the ;1 half: the simulator does not play the Local channel's second half
            base = interface[:-2] if interface.endswith("/n") else interface
            name = f"{base}-{seq:08x};1"
        else:
            name = f"{interface}-{seq:08x}"
        uid = uniqueid or self.uniqueid()
        return Channel(
            name,
            uid,
            linkedid or uid,
            created=self._now(),
            device=device_of(interface),
            state=state,
            cid_num=cid_num,
            cid_name=cid_name,
            context=context,
            exten=exten,
            language=language,
            chanvars=self._chanvars,
        )

    def bridge(self) -> Bridge:
        return Bridge(self.uuid())

    def uuid(self) -> str:
        """A UUID4-shaped id from the seeded generator (BridgeUniqueid), reproducible per seed."""
        h = f"{self._rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"
