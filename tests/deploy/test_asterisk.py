"""asterisk/: the AMI user has exactly the classes the service needs, the queues use only options Asterisk 22
knows, the phones and queue members agree, every application the dialplan runs is loaded, and the secrets come
from the environment through docker-entrypoint.sh."""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.deploy.asterisk_conf import ConfFile, parse, split_args
from tests.deploy.repo import ASTERISK, compose_subnet, conf, env_example, plan
from tests.support.helpers import TRACES
from uhd_telephony.ami import names
from uhd_telephony.ami.events import TRACKED_EVENTS
from uhd_telephony.settings import Settings

# --- the AMI user ------------------------------------------------------------------------------------------------

# The class Asterisk sends each event under, where the recorded traces do not show it (docs.asterisk.org, "Class")
EVENT_CLASS_FROM_DOCS = {"AgentDump": "agent", "AttendedTransfer": "call", "Shutdown": "system"}
# Events the service reads beyond the tracker's: the callback's Originate reply (uhd_telephony/callbacks)
EVENTS_READ = TRACKED_EVENTS | {"OriginateResponse"}
# The actions the service sends and the classes Asterisk 22 registers them with (manager.c, app_queue.c).
# Asterisk runs an action when the user's write classes include ANY of its classes; none: every user may.
ACTIONS = {
    "Login": set(),
    "Logoff": set(),
    "Ping": set(),
    "QueueStatus": set(),  # resync snapshot
    "CoreShowChannels": {"system", "reporting"},  # resync snapshot
    "Originate": {"originate"},  # callbacks
    "QueuePause": {"agent"},  # agent console
    "QueueAdd": {"agent"},
    "QueueRemove": {"agent"},
}
# of an action's classes, the one we grant: "system" could also reload or stop Asterisk, "reporting" only lists
PREFERRED = ("reporting", "originate", "agent", "call")


def event_classes() -> dict[str, str]:
    """Each event's class as the real Asterisk 22 traces show it ("Privilege: agent,all")."""
    found: dict[str, str] = {}
    for trace in TRACES.glob("*.ami"):
        event = None
        for line in trace.read_bytes().decode("utf-8", "replace").split("\r\n"):
            if line.startswith("Event: "):
                event = line[7:]
            elif line.startswith("Privilege: ") and event:
                found[event] = line[11:].split(",")[0]
    return found


def test_the_ami_user_reads_exactly_the_classes_of_the_events_the_service_follows() -> None:
    classes = {**EVENT_CLASS_FROM_DOCS, **event_classes()}
    missing = EVENTS_READ - set(classes)
    assert not missing, f"no class known for {missing}"
    needed = {classes[event] for event in EVENTS_READ}
    user = conf("manager.conf").section(Settings.model_fields["ami_username"].default)
    assert set(user.get("read").split(",")) == needed == {"system", "call", "agent", "user", "dialplan"}


def test_the_ami_user_writes_exactly_the_classes_of_the_actions_the_service_sends() -> None:
    needed = {next(c for c in PREFERRED if c in classes) for classes in ACTIONS.values() if classes}
    user = conf("manager.conf").section(Settings.model_fields["ami_username"].default)
    granted = set(user.get("write").split(","))
    assert granted == needed == {"originate", "agent", "reporting"}
    for action, classes in ACTIONS.items():
        assert not classes or classes & granted, f"{action} would be refused"
    assert "system" not in granted and "command" not in granted and "config" not in granted


def test_the_service_sends_the_actions_listed_here() -> None:
    root = Path(__file__).resolve().parents[2] / "uhd_telephony"
    sent = set()
    for path in root.rglob("*.py"):
        if "simulator" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        sent |= set(re.findall(r'"Action": "(\w+)"', text))
        # AmiClient.snapshot(): for name in ("QueueStatus", "CoreShowChannels"): {"Action": name}
        for loop in re.findall(r"for name in \(([^)]*)\):\s*\n[^\n]*\{\"Action\": name\}", text):
            sent |= set(re.findall(r'"(\w+)"', loop))
    assert {"Originate", "QueueStatus", "CoreShowChannels"} <= sent
    assert sent <= set(ACTIONS), f"the service sends actions the AMI user may not have: {sent - set(ACTIONS)}"


def test_manager_conf_timestamps_listens_on_the_settings_port_and_admits_only_the_compose_network() -> None:
    manager = conf("manager.conf")
    general = manager.section("general")
    assert general.get("timestampevents") == "yes"
    assert general.get("enabled") == "yes" and general.get("webenabled") == "no"
    assert int(general.get("port") or 0) == Settings.model_fields["ami_port"].default == 5038
    # what a resynced call needs to be attributed as a live one: exactly the names the tracker reads
    assert tuple(general.get("channelvars").split(",")) == names.CHANNEL_VARS

    user = manager.section("uhd")
    assert user.values("deny") == ["0.0.0.0/0.0.0.0"]
    (permit,) = user.values("permit")
    assert ipaddress.ip_network(permit.replace("/", "/", 1), strict=False) == ipaddress.ip_network(compose_subnet())
    # the secret is never in the file: it is included from what the entry point writes
    assert user.get("secret") is None
    assert user.external_includes == ["/run/uhd-asterisk/manager-uhd-secret.conf"]


# --- queues --------------------------------------------------------------------------------------------------------

# options Asterisk 22's app_queue reads (configs/samples/queues.conf.sample)
QUEUE_OPTIONS = {
    "musicclass", "announce", "queue-callerannounce", "strategy", "servicelevel", "context", "penaltymemberslimit",
    "timeout", "retry", "timeoutpriority", "weight", "wrapuptime", "autofill", "autopause", "autopausedelay",
    "autopausebusy", "autopauseunavail", "maxlen", "setinterfacevar", "setqueueentryvar", "setqueuevar",
    "membergosub", "announce-frequency", "min-announce-frequency", "periodic-announce-frequency",
    "periodic-announce-startdelay", "random-periodic-announce", "relative-periodic-announce", "announce-holdtime",
    "announce-position", "announce-to-first-user", "announce-position-limit", "announce-round-seconds",
    "announce-position-only-up", "periodic-announce", "monitor-format", "joinempty", "leavewhenempty",
    "reportholdtime", "ringinuse", "memberdelay", "timeoutrestart", "defaultrule", "member",
}  # fmt: skip
GENERAL_OPTIONS = {
    "persistentmembers", "enable_cidname_logging", "autofill", "monitor-type", "shared_lastcall",
    "negative_penalty_invalid", "log_membername_as_agent", "log-restricted-caller-id",
    "force_longest_waiting_caller", "keepstats", "updatecdr",
}  # fmt: skip
# gone since Asterisk 12/21: they only log "Unknown keyword" (or break the queue)
REMOVED = {"eventwhencalled", "eventmemberstatus", "monitor-join", "monitor-type", "membermacro", "maxlen=-1"}


def queues() -> ConfFile:
    return conf("queues.conf")


def test_queues_use_only_options_asterisk_22_knows() -> None:
    q = queues()
    for section in q.sections:
        keys = {e.key for e in section.entries}
        allowed = GENERAL_OPTIONS if section.name == "general" else QUEUE_OPTIONS
        assert not keys & REMOVED, f"[{section.name}] removed option {keys & REMOVED}"
        assert keys <= allowed, f"[{section.name}] unknown options {keys - allowed}"


def test_each_hotline_queue_reports_what_the_tracker_reads_and_ends_in_the_overflow() -> None:
    q = queues()
    hotlines = [s for s in q.real() if s.name != "general"]
    assert {s.name for s in hotlines} == {f"hotline-{t}" for t in ("klinikum-nord", "klinikum-sued")}
    for section in hotlines:
        entries = {e.key: e.value for e in q.resolved(section)}
        assert entries["strategy"] in {"rrmemory", "ringall"}
        for flag in ("setinterfacevar", "setqueuevar", "setqueueentryvar"):
            assert entries[flag] == "yes", f"[{section.name}] {flag}"
        assert int(entries["wrapuptime"]) > 0 and int(entries["timeout"]) > 0 and int(entries["retry"]) > 0
        assert int(entries["maxlen"]) > 0  # FULL, too, goes to the overflow
        # nobody there: refused or sent out to the overflow, not left waiting for MAXWAIT
        assert "unavailable" in entries["joinempty"] and "unavailable" in entries["leavewhenempty"]
        assert "paused" not in entries["joinempty"]
        assert entries["timeoutpriority"] == "app"


def _endpoints() -> dict[str, dict[str, str]]:
    pjsip = conf("pjsip.conf")
    out = {}
    for section in pjsip.real():
        entries = {e.key: e.value for e in pjsip.resolved(section)}
        if entries.get("type") == "endpoint":
            out[section.name] = entries
    return out


def test_queue_members_are_the_agent_phones() -> None:
    q = queues()
    endpoints = _endpoints()
    for section in (s for s in q.real() if s.name != "general"):
        members = [split_args(e.value) for e in q.resolved(section) if e.key == "member"]
        assert members, f"[{section.name}] has no members"
        assert len({m[2] for m in members}) == len(members), "member names must be unique (console logins)"
        for interface, penalty, _name, *_ in members:
            tech, _, endpoint = interface.partition("/")
            assert tech == "PJSIP" and endpoint in endpoints, interface
            assert endpoints[endpoint]["context"] == "from-internal"
            assert int(penalty) >= 0


# --- pjsip and the secrets of the entry point -----------------------------------------------------------------------


def run_entrypoint(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in env_example().items() if k.startswith(("UHD_AMI_", "ASTERISK_"))}
    return subprocess.run(
        ["sh", str(ASTERISK / "docker-entrypoint.sh")],
        env={"PATH": os.environ["PATH"], "UHD_ASTERISK_RUNTIME_DIR": str(tmp_path), **base, **env},
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )


def test_the_entry_point_writes_every_file_the_configuration_includes(tmp_path: Path) -> None:
    done = run_entrypoint(tmp_path, ASTERISK_TRUNK_HOST="sip.carrier.example", ASTERISK_TRUNK_USERNAME="uhd")
    assert done.returncode == 0, done.stderr

    included = set()
    for name in ("manager.conf", "pjsip.conf", "queues.conf", "modules.conf", "logger.conf"):
        included |= set(conf(name).external_includes)
    written = {f"/run/uhd-asterisk/{p.name}" for p in tmp_path.iterdir()}
    assert included == written
    assert all((p.stat().st_mode & 0o077) == 0 for p in tmp_path.iterdir()), "secrets readable by others"

    # included inside [uhd]: one bare "key = value" line, no section of its own
    assert (tmp_path / "manager-uhd-secret.conf").read_text() == f"secret = {env_example()['UHD_AMI_SECRET']}\n"

    # every agent endpoint's auth and aor exist once the generated file is read with pjsip.conf
    generated = parse(tmp_path / "pjsip-secrets.conf")
    types: dict[str, set[str]] = {}
    trunk_endpoint = (tmp_path / "pjsip-trunk-endpoint.conf").read_text()
    assert "outbound_auth = trunk" in trunk_endpoint
    for source in (conf("pjsip.conf"), generated):
        for section in source.real():
            entries = {e.key: e.value for e in source.resolved(section)}
            types.setdefault(section.name, set()).add(entries.get("type", "?"))
    for name, endpoint in _endpoints().items():
        assert "aor" in types.get(endpoint["aors"], set()), f"{name}: no aor"
        auth = endpoint.get("auth") or "trunk"  # the trunk's outbound_auth comes from pjsip-trunk-endpoint.conf
        assert "auth" in types.get(auth, set()), f"{name}: no auth {auth}"
    assert {"aor", "identify", "registration", "auth"} <= types["trunk"]


def test_a_semicolon_in_a_secret_is_not_a_comment(tmp_path: Path) -> None:
    done = run_entrypoint(tmp_path, UHD_AMI_SECRET="s3cr;et", ASTERISK_AGENT_PASSWORDS="101:a;b")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "manager-uhd-secret.conf").read_text() == "secret = s3cr\\;et\n"
    assert "password = a\\;b" in (tmp_path / "pjsip-secrets.conf").read_text()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"UHD_AMI_SECRET": ""}, "UHD_AMI_SECRET is not set"),
        ({"ASTERISK_AGENT_PASSWORDS": "101"}, "no password for 101"),
        ({"ASTERISK_AGENT_PASSWORDS": "x1:pw"}, "not an extension"),
        ({"UHD_AMI_SECRET": "two\nlines"}, "must be one line"),
    ],
)
def test_the_entry_point_refuses_to_start_without_its_secrets(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    done = run_entrypoint(tmp_path, **env)
    assert done.returncode == 64 and message in done.stderr


def test_every_agent_phone_has_a_password_in_env_example() -> None:
    agents = {name for name, e in _endpoints().items() if e["context"] == "from-internal"}
    given = {entry.split(":", 1)[0] for entry in env_example()["ASTERISK_AGENT_PASSWORDS"].split(",")}
    assert given == agents


def test_pjsip_knows_the_compose_network_as_local() -> None:
    (transport,) = [s for s in conf("pjsip.conf").real() if s.get("type") == "transport"]
    assert ipaddress.ip_network(transport.get("local_net")) == ipaddress.ip_network(compose_subnet())


# --- modules and logging -----------------------------------------------------------------------------------------

# where each application and function the dialplan uses comes from; None: the PBX core
APP_MODULE = {
    "Answer": None, "Hangup": None, "Goto": None, "GotoIf": None, "GotoIfTime": None, "NoOp": None, "Set": None,
    "Wait": None, "Busy": None, "Congestion": None, "Ringing": None,
    "Queue": "app_queue", "Dial": "app_dial", "AGI": "res_agi", "UserEvent": "app_userevent",
    "Gosub": "app_stack", "Return": "app_stack", "Playback": "app_playback", "Read": "app_read",
    "VoiceMail": "app_voicemail", "VoiceMailMain": "app_voicemail", "ExecIf": "app_exec",
}  # fmt: skip
FUNCTION_MODULE = {
    "CALLERID": "func_callerid", "LEN": "func_strings", "FILTER": "func_strings", "STRFTIME": "func_strings",
    "IF": "func_logic", "DB_EXISTS": "func_db", "DB": "func_db", "LOCAL": "app_stack", "CHANNEL": "func_channel",
}  # fmt: skip


def loaded_modules() -> list[str]:
    section = conf("modules.conf").section("modules")
    assert section.get("autoload") == "no"
    return [e.value.removesuffix(".so") for e in section.entries if e.key in ("load", "require", "preload")]


def test_modules_conf_loads_what_the_dialplan_uses() -> None:
    loaded = set(loaded_modules())
    text = "\n".join(step.args for step in plan().steps())
    for step in plan().steps():
        assert step.app in APP_MODULE, f"{step.where}: which module has {step.app}?"
        module = APP_MODULE[step.app]
        assert module is None or module in loaded, f"{step.where}: {step.app} needs {module}"
    for function in set(re.findall(r"\b([A-Z][A-Z_]+)\(", text)):
        assert function in FUNCTION_MODULE, f"which module has {function}()?"
        assert FUNCTION_MODULE[function] in loaded, f"{function}() needs {FUNCTION_MODULE[function]}"


def test_modules_conf_loads_sip_bridging_and_the_channel_driver_before_the_queues() -> None:
    order = loaded_modules()
    for module in ("pbx_config", "chan_pjsip", "res_pjsip", "res_rtp_asterisk", "bridge_simple", "codec_alaw",
                   "format_wav", "res_musiconhold", "res_pjsip_caller_id", "res_pjsip_refer"):  # fmt: skip
        assert module in order, module
    assert order.index("chan_pjsip") < order.index("app_queue")
    assert len(order) == len(set(order))


def test_queue_log_is_written() -> None:
    general = conf("logger.conf").section("general")
    assert general.get("queue_log") == "yes" and general.get("queue_log_name") == "queue_log"
