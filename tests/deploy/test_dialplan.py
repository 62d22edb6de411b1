"""dialplan/: every jump lands, every queue exists, every hotline number reaches its tenant, and the variable and
UserEvent names are exactly the ones the tracker reads (uhd_telephony/ami/names.py)."""

from __future__ import annotations

import inspect
import os
import re

import pytest

from tests.deploy.asterisk_conf import Step, split_args, split_condition
from tests.deploy.dialplan_run import Caller, Walk, walk
from tests.deploy.repo import DIALPLAN, conf, env_example, mapping, plan
from uhd_telephony.agi import lookup as agi_lookup
from uhd_telephony.agi import subscribe as agi_subscribe
from uhd_telephony.ami import names
from uhd_telephony.callbacks.originate import VAR_CALLBACK_ID
from uhd_telephony.callbacks.service import CallbackService
from uhd_telephony.incidents.announcement import KEY_PROMPT, SUBSCRIBED_PROMPT
from uhd_telephony.simulator import dialplan as simulated

JUMPS = ("Goto", "GotoIf", "GotoIfTime", "Gosub")
HOTLINE_SUB = "uhd-hotline"


def tenant_numbers() -> dict[str, str]:
    return mapping(env_example()["UHD_TENANT_NUMBERS"])


def tenant_queues() -> dict[str, str]:
    return mapping(env_example()["UHD_TENANT_QUEUES"])


def tenants() -> set[str]:
    return set(tenant_numbers().values())


def destinations(step: Step) -> list[str]:
    """The jump targets of a Goto/GotoIf/GotoIfTime/Gosub, without Gosub's arguments."""
    if step.app == "Goto" or step.app == "Gosub":
        targets = [step.args]
    else:
        _, branches = split_condition(step.args)
        targets = [t for t in branches.split(":") if t.strip()]
    return [re.sub(r"\(.*\)$", "", t.strip()) for t in targets]


def resolve(step: Step, target: str) -> tuple[str, str, str]:
    parts = [p.strip() for p in target.split(",")]
    if len(parts) == 1:
        return step.context, step.exten, parts[0]
    if len(parts) == 2:
        return step.context, parts[0], parts[1]
    assert len(parts) == 3, f"{step.where}: {target!r}"
    return parts[0], parts[1], parts[2]


def gosub_args(step: Step) -> list[str]:
    match = re.match(r"^[^(]*\((.*)\)$", step.args)
    assert match is not None, f"{step.where}: Gosub without arguments"
    return split_args(match.group(1))


def hotline_calls(branch: str) -> list[tuple[Step, list[str]]]:
    """Every Gosub(uhd-hotline,<branch>,1(...)) with its arguments."""
    return [
        (step, gosub_args(step)) for step in plan().apps("Gosub") if step.args.startswith(f"{HOTLINE_SUB},{branch},")
    ]


def test_every_included_file_is_read() -> None:
    read = {path.relative_to(DIALPLAN).as_posix() for path in conf("extensions.conf").files}
    assert read == {"extensions.conf", *(f"tenants/{tenant}.conf" for tenant in tenants())}
    assert conf("extensions.conf").external_includes == []


def test_every_jump_lands_on_an_existing_context_extension_and_priority() -> None:
    dp = plan()
    jumps = [step for step in dp.steps() if step.app in JUMPS]
    assert len(jumps) > 20
    for step in jumps:
        for target in destinations(step):
            assert "${" not in target, f"{step.where}: computed jump target {target!r} cannot be checked"
            context, exten, priority = resolve(step, target)
            assert context in dp.contexts, f"{step.where}: no context {context}"
            assert exten in dp.extensions(context), f"{step.where}: no extension {exten} in {context}"
            if priority.isdigit():
                assert any(s.exten == exten and s.priority == int(priority) for s in dp.contexts[context]), (
                    f"{step.where}: no priority {priority} at {exten}@{context}"
                )
            else:
                assert priority in dp.labels(context, exten), f"{step.where}: no label {priority} at {exten}@{context}"


def test_every_include_names_a_context() -> None:
    dp = plan()
    for context, included in dp.includes.items():
        for name in included:
            assert name in dp.contexts, f"[{context}] includes unknown [{name}]"
    assert dp.includes["from-trunk"][-1] == "did-unknown"  # the catch-all comes last


def test_labels_are_unique_per_extension() -> None:
    for steps in plan().contexts.values():
        seen: set[tuple[str, str]] = set()
        for step in steps:
            if step.label:
                assert (step.exten, step.label) not in seen, f"{step.where}: label {step.label} twice"
                seen.add((step.exten, step.label))


def test_every_queue_the_dialplan_uses_exists_and_belongs_to_its_tenant() -> None:
    queues = {s.name for s in conf("queues.conf").real() if s.name != "general"}
    used: dict[str, str] = {}
    for branch in ("open", "closed"):
        for step, args in hotline_calls(branch):
            queue, tenant = args[0], args[1]
            assert queue in queues, f"{step.where}: no queue {queue} in queues.conf"
            assert used.setdefault(queue, tenant) == tenant, f"{queue} used for two tenants"
            assert step.context == f"hotline-{tenant}", f"{step.where}: tenant {tenant} in [{step.context}]"
    # the queue is only ever named through the subroutine's first argument
    for step in plan().apps("Queue"):
        assert step.context == HOTLINE_SUB and split_args(step.args)[0] == "${ARG1}", step.where
    assert used == tenant_queues()
    assert set(used) == queues, "a queue no hotline uses"


def test_each_tenants_hotline_number_reaches_its_hotline() -> None:
    dp = plan()
    assert tenant_numbers(), "UHD_TENANT_NUMBERS lists the hotline numbers"
    for number, tenant in tenant_numbers().items():
        did = f"did-{tenant}"
        assert did in dp.includes["from-trunk"], f"[from-trunk] does not include [{did}]"
        (entry,) = [s for s in dp.contexts[did] if s.exten == number]
        assert (entry.app, entry.args) == ("Goto", f"hotline-{tenant},s,1")
        national = "0" + number[3:]  # +49 231 ... as 0231 ...
        assert national in dp.extensions(did), f"{number} in its national form {national}"
        sets = {s.args for s in dp.contexts[f"hotline-{tenant}"] if s.app == "Set"}
        assert f"{names.VAR_TENANT}={tenant}" in sets
        assert f"{names.VAR_HOTLINE}={number}" in sets
    for step in dp.contexts["from-trunk"]:
        pytest.fail(f"{step.where}: [from-trunk] has its own extensions before the tenants' includes")


def test_business_hours_and_holidays_are_checked_in_berlin_time() -> None:
    dp = plan()
    assert dp.globals["HOTLINE_TZ"] == "Europe/Berlin"
    for tenant in tenants():
        steps = dp.contexts[f"hotline-{tenant}"]
        apps = [s.app for s in steps]
        holiday = apps.index("Gosub")
        assert steps[holiday].args == f"uhd-holiday,s,1({tenant})"
        times = [s for s in steps if s.app == "GotoIfTime"]
        assert times and apps.index("GotoIfTime") > holiday
        for step in times:
            condition, target = split_condition(step.args)
            assert split_args(condition)[4] == "${HOTLINE_TZ}", step.where
            assert target == "open"
    for step in dp.apps("GotoIfTime"):
        assert split_args(split_condition(step.args)[0])[4] == "${HOTLINE_TZ}", f"{step.where}: no time zone"


def test_closed_and_overflow_send_the_userevents_the_tracker_reads() -> None:
    sent: dict[str, tuple[str, ...]] = {}
    for step in plan().apps("UserEvent"):
        event, *body = split_args(step.args)
        headers = tuple(part.split(":", 1)[0].strip() for part in body)
        assert all(":" in part for part in body), step.where
        assert sent.setdefault(event, headers) == headers
    assert sent == names.USEREVENT_HEADERS


def test_the_closed_event_comes_before_the_announcement() -> None:
    steps = [s for s in plan().contexts[HOTLINE_SUB] if s.exten == "closed"]
    apps = [s.app for s in steps]
    assert apps.index("UserEvent") < apps.index("Answer") < apps.index("Playback")


def test_every_queue_exit_but_an_answer_goes_to_the_overflow() -> None:
    steps = [s for s in plan().contexts[HOTLINE_SUB] if s.exten == "open"]
    statuses = []
    for step in steps:
        match = re.fullmatch(r'\$\["\$\{QUEUESTATUS\}" = "(\w+)"\]\?(\w+)', step.args) if step.app == "GotoIf" else None
        if match:
            statuses.append(match.group(1))
            assert match.group(2) == "overflow"
    assert set(statuses) == names.QUEUESTATUS_TIMEOUT | names.QUEUESTATUS_LEFT_EMPTY | names.QUEUESTATUS_REFUSED
    assert tuple(statuses) == simulated.OVERFLOW_STATUSES  # the order the simulator plays back
    apps = [(s.app, s.args) for s in steps]
    overflow = next(i for i, s in enumerate(steps) if s.label == "overflow")
    callback = apps.index(("Set", f"{names.VAR_CALLBACK_REQUESTED}=1"))
    event = next(i for i, (app, args) in enumerate(apps) if app == "UserEvent")
    assert overflow < callback < event  # CALLBACK_REQUESTED right before the UserEvent, as names.py says


def _set_names() -> list[tuple[Step, str]]:
    return [(step, step.args.partition("=")[0].strip()) for step in plan().apps("Set")]


def test_the_variables_set_are_exactly_the_names_the_tracker_reads() -> None:
    shared = {value for key, value in vars(names).items() if key.startswith("VAR_") and isinstance(value, str)}
    uhd = {name for name in shared if name.startswith(names.UHD_VAR_PREFIX)}

    by_dialplan = {name for _, name in _set_names()}
    by_agi = set(agi_lookup.SETS) | set(agi_subscribe.SETS)
    assert {n for n in by_dialplan | by_agi if n.startswith(names.UHD_VAR_PREFIX)} == uhd
    assert {n for n in by_dialplan if n.startswith(names.UHD_VAR_PREFIX)} == {
        names.VAR_TENANT,
        names.VAR_HOTLINE,
        names.VAR_CATEGORY,
        names.VAR_CALLBACK_REACHED,  # [uhd-callback-answered] on a callback's caller channel (issue 20 item 2)
    }
    assert by_agi <= shared
    assert names.VAR_CALLBACK_REQUESTED in by_dialplan
    # no inheritance prefix: VarSet would report "__UHD_TENANT", which the tracker does not read
    for step, name in _set_names():
        assert not name.startswith("_"), f"{step.where}: {name} is inherited; VarSet shows it with the prefix"
    # and no other UHD_ name anywhere in the dialplan
    text = "\n".join(path.read_text(encoding="utf-8") for path in conf("extensions.conf").files)
    # ... but the callback's id, which the service's Originate sets on the agent's channel (callbacks.originate)
    assert set(re.findall(r"\bUHD_[A-Z_]+\b", text)) <= uhd | {VAR_CALLBACK_ID}


def _agi(global_name: str) -> Step:
    (step,) = [s for s in plan().apps("AGI") if split_args(s.args)[0] == f"${{{global_name}}}"]
    return step


def test_the_agi_lookup_is_the_script_in_dialplan_agi_called_with_the_tenant_only() -> None:
    dp = plan()
    step = _agi("LOOKUP_AGI")
    _, *args = split_args(step.args)
    assert dp.globals["LOOKUP_AGI"] == simulated.AGI_SCRIPT
    path = DIALPLAN / "agi" / simulated.AGI_SCRIPT
    assert path.is_file() and os.access(path, os.X_OK)
    # the tenant literal of the hotline, never the caller ID (a comma in it would shift the arguments)
    assert args == ["${ARG2}"]
    for _, call_args in hotline_calls("open"):
        assert call_args[1] in tenants()
    assert {split_args(s.args)[0] for s in dp.apps("AGI")} == {"${LOOKUP_AGI}", "${SUBSCRIBE_AGI}"}


def test_the_subscription_agi_gets_the_tenant_and_the_call_never_the_caller_id() -> None:
    dp = plan()
    step = _agi("SUBSCRIBE_AGI")
    assert step.context == "uhd-incident"
    assert split_args(step.args)[1:] == ["${ARG2}", "${CHANNEL(linkedid)}"]
    path = DIALPLAN / "agi" / dp.globals["SUBSCRIBE_AGI"]
    assert path.is_file() and os.access(path, os.X_OK)
    # the incident ids are read from the channel (GET VARIABLE): as arguments their commas would split them
    assert "UHD_INCIDENT" not in step.args


# --- one call walked through [uhd-hotline] and [uhd-incident] (tests/deploy/dialplan_run.py) ----------------------

NORD = ["hotline-klinikum-nord", "klinikum-nord", "180", "message", "yes", ""]
SUED = ["hotline-klinikum-sued", "klinikum-sued", "240", "voicemail", "no", "hotline-klinikum-sued@uhd"]
PROMPTS = "uhd-incidents/uhd-incident-klinikum-nord-7&custom/uhd-incident-generic"
INCIDENT = {names.VAR_INCIDENT: "7,3", names.VAR_INCIDENT_PROMPT: PROMPTS}


def _open_args(tenant: str) -> list[str]:
    (args,) = [a for _, a in hotline_calls("open") if a[1] == tenant]
    return args


def call(
    args: list[str],
    *,
    lookup: dict[str, str] | None = None,
    incident_key: str = "",
    menu_key: str = "",
    subscribed: bool = True,
    **caller: str,
) -> tuple[Walk, list[tuple[str, list[str]]]]:
    """One call to the ``open`` branch: what the lookup sets, the keys the caller presses, whether the subscription
    AGI records. Returns the walk and the AGI runs (script, arguments)."""
    agis: list[tuple[str, list[str]]] = []

    def agi(script: str, script_args: list[str], variables: object) -> dict[str, str]:
        agis.append((script, script_args))
        if script == agi_lookup_script():
            return {names.VAR_TENANT: script_args[0], names.VAR_VIP: "0", **(lookup or {})}
        assert script == plan().globals["SUBSCRIBE_AGI"], script
        return {names.VAR_INCIDENT_SUBSCRIBED: "1"} if subscribed else {}

    def keys(prompts: str) -> str:
        return incident_key if KEY_PROMPT in prompts.split("&") else menu_key

    return walk(plan(), HOTLINE_SUB, "open", args, Caller(agi=agi, keys=keys, **caller)), agis


def agi_lookup_script() -> str:
    return plan().globals["LOOKUP_AGI"]


def _incident_events(w: Walk) -> list[list[str]]:
    return [args for args in w.of("UserEvent") if args[0] == names.USEREVENT_INCIDENT]


def test_both_open_calls_are_the_ones_walked() -> None:
    assert _open_args("klinikum-nord") == NORD and _open_args("klinikum-sued") == SUED


@pytest.mark.parametrize("args", [NORD, SUED], ids=["menu", "no-menu"])
def test_without_an_incident_the_call_takes_the_path_it_always_took(args: list[str]) -> None:
    w, agis = call(args, menu_key="2")

    assert w.ended == "Queue" and w.of("Queue") == [[args[0], "t", "", "", args[2]]]
    assert agis == [(agi_lookup_script(), [args[1]])]
    assert _incident_events(w) == [] and "Gosub" not in w.apps and "Playback" not in w.apps
    # the path of before issue 18, plus the one test of UHD_INCIDENT
    expected = ["NoOp", "Set", "Answer", "AGI", "GotoIf", "GotoIf"]
    expected += ["Read", "GotoIf", "Set"] if args[4] == "yes" else []
    assert w.apps == [*expected, "Queue"]
    if args[4] == "yes":
        assert w.of("Set")[-1] == [f"{names.VAR_CATEGORY}=pacs"]


def test_a_withheld_caller_without_an_incident_is_still_looked_up_by_the_script_and_queues() -> None:
    w, agis = call(NORD, number="anonymous", pres="prohib_passed_screen")

    assert [script for script, _ in agis] == [agi_lookup_script()]  # the script itself skips the directory
    assert w.ended == "Queue" and _incident_events(w) == []


@pytest.mark.parametrize("args", [NORD, SUED], ids=["menu", "no-menu"])
def test_an_incident_is_announced_and_the_key_subscribes_and_ends_the_call(args: list[str]) -> None:
    w, agis = call(args, lookup=INCIDENT, incident_key="1")

    assert w.ended == "Hangup" and "Queue" not in w.apps
    assert _incident_events(w) == [
        [names.USEREVENT_INCIDENT, f"Queue: {args[0]}", f"Stage: {names.INCIDENT_ANNOUNCED}"],
        [names.USEREVENT_INCIDENT, f"Queue: {args[0]}", f"Stage: {names.INCIDENT_SUBSCRIBED}"],
    ]
    (read,) = w.of("Read")
    assert read[:3] == ["INCIDENT_KEY", f"{PROMPTS}&{KEY_PROMPT}", "1"]
    assert agis[1] == (plan().globals["SUBSCRIBE_AGI"], [args[1], "1795733173.14"])
    assert w.of("Playback") == [[SUBSCRIBED_PROMPT]]
    # the announced event before the announcement plays, the subscribed one only once it is recorded
    order = [(r.app, r.args[-1] if r.args else "") for r in w.ran]
    announced = order.index(("UserEvent", f"Stage: {names.INCIDENT_ANNOUNCED}"))
    assert announced < w.apps.index("Read") < [i for i, a in enumerate(w.apps) if a == "AGI"][1]
    assert order.index(("UserEvent", f"Stage: {names.INCIDENT_SUBSCRIBED}")) < w.apps.index("Playback")


@pytest.mark.parametrize("key", ["", "2", "#"], ids=["no-key", "other-key", "hash"])
def test_an_incident_without_the_key_goes_on_to_the_queue_as_before(key: str) -> None:
    w, agis = call(NORD, lookup=INCIDENT, incident_key=key, menu_key="1")

    assert w.ended == "Queue" and len(agis) == 1
    assert _incident_events(w) == [[names.USEREVENT_INCIDENT, f"Queue: {NORD[0]}", "Stage: announced"]]
    # then exactly the path without an incident: the category menu, the queue
    without, _ = call(NORD, menu_key="1")
    rest = w.apps[w.apps.index("Return") + 1 :]
    assert rest == without.apps[without.apps.index("GotoIf") + 1 :]
    assert w.of("Queue") == without.of("Queue")


def test_a_subscription_not_recorded_sends_the_caller_to_the_queue_unconfirmed() -> None:
    w, agis = call(NORD, lookup=INCIDENT, incident_key="1", subscribed=False)

    assert w.ended == "Queue" and len(agis) == 2
    assert [e[-1] for e in _incident_events(w)] == ["Stage: announced"]
    assert "Playback" not in w.apps


@pytest.mark.parametrize(
    ("number", "pres"), [("anonymous", "allowed"), ("", "allowed"), ("+4923198600001", "prohib_passed_screen")]
)
def test_a_withheld_caller_hears_the_incident_without_the_key_and_queues(number: str, pres: str) -> None:
    w, agis = call(NORD, lookup=INCIDENT, incident_key="1", number=number, pres=pres)

    assert w.ended == "Queue" and len(agis) == 1  # nobody to tell: no key offered, no subscription
    assert w.of("Playback") == [[PROMPTS]]
    assert [r for r in w.of("Read") if r[0] == "INCIDENT_KEY"] == []
    assert [e[-1] for e in _incident_events(w)] == ["Stage: announced"]


def test_the_closed_hotline_never_announces_an_incident() -> None:
    """Outside business hours the call ends with the closed announcement; the lookup never runs."""
    assert all(s.app != "AGI" for s in plan().contexts[HOTLINE_SUB] if s.exten == "closed")


def _matches(pattern: str, number: str) -> bool:
    """Asterisk extension matching, enough for this dialplan: X Z N [..] . ! and literals."""
    if not pattern.startswith("_"):
        return pattern == number
    regex = ""
    body = pattern[1:]
    i = 0
    while i < len(body):
        c = body[i]
        if c == "X":
            regex += "[0-9]"
        elif c == "Z":
            regex += "[1-9]"
        elif c == "N":
            regex += "[2-9]"
        elif c == "[":
            end = body.index("]", i)
            regex += "[" + body[i + 1 : end] + "]"
            i = end
        elif c == ".":
            regex += ".+"
        elif c == "!":
            regex += ".*"
        else:
            regex += re.escape(c)
        i += 1
    return re.fullmatch(regex, number) is not None


@pytest.mark.parametrize(
    ("number", "dialled"),
    [
        ("+4923198600001", True),
        ("02319860572", True),
        ("4711", True),
        ("101", True),
        ("004141234567", False),
        ("+41441234567", False),
        ("09001234567", False),
    ],
)
def test_callbacks_can_dial_german_numbers_and_extensions_only(number: str, dialled: bool) -> None:
    context = inspect.signature(CallbackService.dial).parameters["context"].default
    assert context in plan().contexts
    assert any(_matches(exten, number) for exten in plan().extensions(context)) is dialled


def test_the_menu_keys_name_categories_of_the_default_tree() -> None:
    import yaml

    from uhd_telephony.tickets.categories import DEFAULT_CATEGORIES

    top = {node["code"] for node in yaml.safe_load(DEFAULT_CATEGORIES.read_text(encoding="utf-8"))["categories"]}
    keys = {k: v for k, v in plan().globals.items() if k.startswith("CATEGORY_KEY_")}
    assert keys and set(keys.values()) <= top


def test_the_simulator_plays_the_incident_context_as_the_dialplan_numbers_it() -> None:
    from uhd_telephony.simulator import announcement

    steps = [s for s in plan().contexts[announcement.CONTEXT] if s.exten == "s"]
    labels = {s.label: s.priority for s in steps if s.label}
    assert (labels["inform"], labels["subscribe"]) == (announcement.INFORM, announcement.SUBSCRIBE_PRIORITY)
    assert plan().globals["SUBSCRIBE_AGI"] == announcement.SUBSCRIBE_AGI
    assert int(plan().globals["INCIDENT_TIMEOUT"]) == announcement.KEY_TIMEOUT_S
    (read,) = [s for s in steps if s.app == "Read"]
    assert split_args(read.args)[1] == f"${{{names.VAR_INCIDENT_PROMPT}}}&{KEY_PROMPT}"
