"""An OLA file on SQLite and PostgreSQL: imported whole or not at all — a group the tenant does not have, a group
without a calendar, a bad target are errors that name the group, and nothing is written; a re-import replaces the
tenant's OLAs; ``uhd-telephony import-ola`` says the same in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.sla.conftest import MONDAY_9, OTHER, TENANT, World
from tests.sla.ola.conftest import NO_OLA, PARTNER, SECOND, OlaWorld, ola_data
from tests.support.cli import uhd
from tests.support.tenants import add_tenants
from uhd_telephony.sla.models import ola_groups, ola_policies, ola_tenants
from uhd_telephony.sla.ola_policy import OlaError, import_ola, load_olas
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.groups import import_groups

ROOT = Path(__file__).resolve().parents[3]


async def _rows(db: Database) -> list[int]:
    async with db.engine.connect() as conn:
        return [
            (await conn.execute(select(func.count()).select_from(t))).scalar_one()
            for t in (ola_tenants, ola_groups, ola_policies)
        ]


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (ola_data(groups={"partner:nobody": {"policies": {3: {"response": "1h", "resolution": "4h"}}}}),
         "unknown group 'partner:nobody' of tenant 'klinikum-nord': import it with uhd-telephony import-groups "
         "first (the tenant's groups: 2nd_level, partner:medisoft, partner:other)"),
        ({"groups": {PARTNER: {"policies": {3: {"response": "1h", "resolution": "4h"}}}}},
         "group 'partner:medisoft': no calendar"),
        (ola_data(groups={PARTNER: {"policies": {3: {"response": "soon", "resolution": "4h"}}}}),
         "group 'partner:medisoft': policy of priority 3, response: a duration"),
        (ola_data(groups={PARTNER: {"policies": {1: {"response": "1h", "resolution": "4h"}}}}),
         "group 'partner:medisoft': unclassified_priority 3 has no policy"),
        (ola_data(groups={PARTNER: {"policies": {3: {"response": "1h", "resolution": "4h"}}, "contacts": []}}),
         "group 'partner:medisoft': a mapping with policies"),
        (ola_data(groups={"Partner Firma": {"policies": {}}}), "group 'Partner Firma': not a group code"),
        (ola_data(groups={}), "'groups' maps group codes"),
        (ola_data(levels={"warning": 4}), "levels.warning: 1 (team lead)"),
        (ola_data(calendar={"hours": {"mon": ["17:00-08:00"]}}), "the interval ends before it starts"),
        ({**ola_data(), "contacts": []}, "unknown key(s) contacts"),
        ([1, 2], "an OLA file is a mapping"),
    ],
)  # fmt: skip
async def test_a_bad_file_names_what_is_wrong_and_writes_nothing(ola: OlaWorld, data: Any, said: str) -> None:
    before = await _rows(ola.w.db)
    with pytest.raises(OlaError) as error:
        await import_ola(ola.w.db, TENANT, data)
    assert said in error.value.message and error.value.error_id == "invalid-ola"
    assert await _rows(ola.w.db) == before  # the OLA imported before is still there, unchanged
    assert set((await _load(ola.w.db))[TENANT].groups) == {PARTNER, SECOND}


async def _load(db: Database) -> dict[str, Any]:
    async with db.engine.connect() as conn:
        return await load_olas(conn, [TENANT, OTHER], with_contacts=True)


async def test_an_inactive_group_is_unknown_too(ola: OlaWorld) -> None:
    await import_groups(ola.w.db, TENANT, [{"code": NO_OLA, "name": "Andere Firma", "active": False}])
    targets = {"policies": {3: {"response": "1h", "resolution": "4h"}}}
    with pytest.raises(OlaError, match="unknown group 'partner:other'"):
        await import_ola(ola.w.db, TENANT, ola_data(groups={NO_OLA: targets}))


async def test_a_reimport_replaces_the_tenants_olas_and_leaves_other_tenants_alone(ola: OlaWorld) -> None:
    db = ola.w.db
    loaded = await _load(db)
    assert OTHER not in loaded and loaded[TENANT].group_contacts is not None
    assert loaded[TENANT].group_contacts[PARTNER].mail == ("support@medisoft.example",)
    assert loaded[TENANT].group_contacts[PARTNER].locale == "en"
    medisoft = loaded[TENANT].groups[PARTNER]
    assert medisoft.policy_for(None) == medisoft.policies[3] and medisoft.calendar.holiday_state == "NW"
    only = {"calendar": {"always": True}, "warning_at": 0.5, "levels": {"breach": 2},
            "groups": {SECOND: {"unclassified_priority": 2, "policies": {2: {"response": "10m", "resolution": "1h",
                                                                            "warning_at": 0.9}}}}}  # fmt: skip
    result = await import_ola(db, TENANT, only, now=MONDAY_9)
    assert result.to_dict() == {"tenant": TENANT, "groups": 1, "policies": 1, "armed": 0}
    replaced = (await _load(db))[TENANT]
    assert set(replaced.groups) == {SECOND} and (replaced.warning_level, replaced.breach_level) == (1, 2)
    assert replaced.groups[SECOND].policies[2].warn_share == 0.9 and replaced.groups[SECOND].calendar.always
    await import_groups(db, OTHER, [{"code": PARTNER, "name": "Medisoft Süd", "mail": ["sued@medisoft.example"]}])
    await import_ola(db, OTHER, ola_data(groups={PARTNER: {"policies": {3: {"response": "2h", "resolution": "8h"}}}}))
    both = await _load(db)
    assert set(both[TENANT].groups) == {SECOND} and both[OTHER].groups[PARTNER].policies[3].response.seconds == 7200


async def test_the_example_file_imports_with_the_example_groups(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UHD_GROUP_SECRET_DEDALUS", "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    await import_groups(world.db, TENANT, ROOT / "examples" / "groups.example.yaml")
    result = await import_ola(world.db, TENANT, ROOT / "examples" / "ola.example.yaml")
    assert (result.groups, result.policies) == (3, 7)


# -- the command ----------------------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_import_ola_prints_its_counts_and_an_unknown_group_is_one_line(ola: OlaWorld, tmp_path: Path) -> None:
    await add_tenants(ola.w.url, TENANT)
    good = tmp_path / "ola.yaml"
    good.write_text(f"calendar: {{always: true}}\ngroups:\n  '{SECOND}':\n    policies: {{3: {{response: 1h, "
                    "resolution: 4h}}\n", encoding="utf-8")  # fmt: skip
    rc, out, err = await uhd("import-ola", str(good), "--tenant", TENANT, env={"UHD_DATABASE_URL": ola.w.url})
    assert rc == 0 and '"groups": 1' in out and '"policies": 1' in out, err
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups:\n  'partner:nobody':\n    calendar: {always: true}\n    policies: {3: {response: 1h, "
                   "resolution: 4h}}\n", encoding="utf-8")  # fmt: skip
    before = await _rows(ola.w.db)
    rc, out, err = await uhd("import-ola", str(bad), "--tenant", TENANT, env={"UHD_DATABASE_URL": ola.w.url})
    lines = err.strip().splitlines()
    assert (rc, out, len(lines)) == (1, "", 1) and "unknown group 'partner:nobody'" in lines[0], err
    assert await _rows(ola.w.db) == before
    rc, _, err = await uhd("import-ola", str(good), "--tenant", "klinikum-nrod", env={"UHD_DATABASE_URL": ola.w.url})
    assert rc == 1 and "unknown tenant 'klinikum-nrod'" in err
    rc, _, err = await uhd("import-ola", str(tmp_path / "none.yaml"), "--tenant", TENANT,
                           env={"UHD_DATABASE_URL": ola.w.url})  # fmt: skip
    assert rc == 1 and "OLA file" in err and "Traceback" not in err, err
