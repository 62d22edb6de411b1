"""Support groups: the example file imports, re-imports change only what changed, bad files say what is wrong,
and a webhook secret is stored but never shown or logged."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from tests.outbox.sinks import new_secret
from tests.support.tenants import add_tenants
from tests.tickets.routing.conftest import EXAMPLES, TENANT
from uhd_telephony.app.cli import main
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate
from uhd_telephony.tickets.groups import GroupError, import_groups, list_groups, validate_groups

SECRET = new_secret()
ENV = {"UHD_GROUP_SECRET_DEDALUS": SECRET}


@pytest.fixture
async def lite(sqlite_url: str) -> Any:
    await migrate(sqlite_url)
    async with Database(sqlite_url) as db:
        yield db


async def test_the_example_file_imports_and_a_reimport_changes_only_what_changed(lite: Database) -> None:
    example = EXAMPLES / "groups.example.yaml"
    first = await import_groups(lite, TENANT, example, env=ENV)
    assert first.to_dict() == {"created": 6, "updated": 0, "unchanged": 0, "deactivated": 0}
    again = await import_groups(lite, TENANT, example, env=ENV)
    assert again.to_dict() == {"created": 0, "updated": 0, "unchanged": 6, "deactivated": 0}
    groups = {g.code: g for g in await list_groups(lite, TENANT)}
    assert [g.level for g in groups.values()] == sorted(g.level for g in groups.values())
    dedalus = groups["partner:dedalus"]
    assert (dedalus.level, dedalus.webhook_url) == (3, "https://tickets.dedalus.example.com/hooks/uhd")
    assert dedalus.webhook_secret == SECRET  # stored: it signs every work order
    assert SECRET not in repr(dedalus) and SECRET not in json.dumps(dedalus.to_dict())
    assert dedalus.to_dict()["webhook_signed"] is True
    assert groups["2nd_level"].mail == ["klinik-it-2nd-level@klinikum-nord.example.org"]
    # the hosting provider abroad reads English; a group without a locale, German
    assert (groups["partner:sap-hosting"].locale, groups["2nd_level"].locale) == ("en", "de")
    assert groups["partner:sap-hosting"].to_dict()["locale"] == "en"

    rotated = {"UHD_GROUP_SECRET_DEDALUS": new_secret()}
    changed = await import_groups(lite, TENANT, [{"code": "2nd_level", "mail": ["a@it.example", "b@it.example"]}],
                                  env=rotated, prune=True)  # fmt: skip
    assert changed.to_dict() == {"created": 0, "updated": 1, "unchanged": 0, "deactivated": 5}
    assert [g.code for g in await list_groups(lite, TENANT)] == ["2nd_level"]
    assert len(await list_groups(lite, TENANT, include_inactive=True)) == 6
    # a language of its own is a change too; taking it out again, German once more
    english = await import_groups(lite, TENANT, [{"code": "2nd_level", "mail": ["a@it.example", "b@it.example"],
                                                  "locale": "en"}], env=rotated)  # fmt: skip
    assert english.to_dict() == {"created": 0, "updated": 1, "unchanged": 0, "deactivated": 0}
    assert [g.locale for g in await list_groups(lite, TENANT)] == ["en"]
    await import_groups(lite, TENANT, [{"code": "2nd_level", "mail": ["a@it.example", "b@it.example"]}], env=rotated)
    assert [g.locale for g in await list_groups(lite, TENANT)] == ["de"]


@pytest.mark.parametrize(
    ("groups", "problem"),
    [
        ([{"code": "2nd level"}], "'code' must be like"),
        ([{"code": "2nd_level"}, {"code": "2nd_level"}], "appears twice"),
        ([{"code": "2nd_level", "level": 3}], "the level of 2nd_level is 2"),
        ([{"code": "partner:x", "level": 4}], "'level' must be 1, 2 or 3"),
        ([{"code": "partner:x", "mail": "Dedalus <support@dedalus.example>"}], "not a plain mail address"),
        ([{"code": "partner:x", "mail": "a@b.example\nBcc: c@d.example"}], "not a plain mail address"),
        ([{"code": "partner:x", "fax": "0231"}], "unknown key(s) fax"),
        ([{"code": "partner:x", "locale": "fr"}], "group 'partner:x': 'locale' must be de (German) or en (English)"),
        ([{"code": "partner:x", "locale": "EN"}], "'locale' must be de (German) or en (English)"),
        ([{"code": "partner:x", "locale": ["en"]}], "'locale' must be de (German) or en (English)"),
        ([{"code": "partner:x", "webhook": {"url": "ftp://x.example/", "secret": SECRET}}], "http(s) URL"),
        ([{"code": "partner:x", "webhook": {"url": "https://u:p@x.example/", "secret": SECRET}}], "credentials"),
        ([{"code": "partner:x", "webhook": {"url": "https://x.example/"}}], "whsec_"),
        ([{"code": "partner:x", "webhook": {"url": "https://x.example/", "secret_env": "NOPE"}}], "NOPE"),
        ({"gruppen": []}, "only a 'groups' key"),
        ([], "non-empty list"),
    ],
)
def test_a_bad_group_file_says_what_is_wrong(groups: Any, problem: str) -> None:
    with pytest.raises(GroupError) as err:
        validate_groups(groups, env={})
    assert problem in err.value.message


def test_a_bad_secret_is_refused_without_being_echoed() -> None:
    weak = "whsec_c2hvcnQ="  # "short": too few bytes to be a key
    with pytest.raises(GroupError) as err:
        validate_groups([{"code": "partner:x", "webhook": {"url": "https://x.example/", "secret": weak}}], env={})
    assert weak not in err.value.message and "c2hvcnQ" not in str(err.value.details)


def test_import_groups_command(
    sqlite_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("UHD_GROUP_SECRET_DEDALUS", SECRET)
    example = str(EXAMPLES / "groups.example.yaml")
    asyncio.run(add_tenants(sqlite_url, TENANT))
    with caplog.at_level(logging.DEBUG):
        assert main(["import-groups", example, "--tenant", TENANT, "--database-url", sqlite_url]) == 0
    out = capsys.readouterr().out
    assert json.loads(out) == {"tenant": TENANT, "created": 6, "updated": 0, "unchanged": 0, "deactivated": 0}
    assert SECRET not in out and SECRET not in caplog.text
    monkeypatch.delenv("UHD_GROUP_SECRET_DEDALUS")
    bad = tmp_path / "groups.yaml"
    bad.write_text("groups:\n  - code: 2nd_level\n    code: 3rd_level\n", encoding="utf-8")
    assert main(["import-groups", str(bad), "--tenant", TENANT, "--database-url", sqlite_url]) == 1
    assert main(["import-groups", example, "--tenant", TENANT, "--database-url", sqlite_url]) == 1
    assert "UHD_GROUP_SECRET_DEDALUS" in caplog.text
