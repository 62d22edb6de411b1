"""The LDAP sources file: presets per type, overrides field by field, every problem named, passwords never in it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from uhd_telephony.directory.ldap_config import LdapSource, load_sources, parse_sources, source_of
from uhd_telephony.errors import ConfigError, DirectorySourceError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ldap.example.yaml"


def ad(**overrides: Any) -> dict[str, Any]:
    return {
        "type": "ad",
        "url": "ldaps://dc1.klinikum-nord.local",
        "bind_dn": "CN=svc-uhd,OU=Service,DC=klinikum-nord,DC=local",
        "bind_password_env": "UHD_LDAP_PASSWORD_KLINIKUM_NORD",
        "base_dn": "OU=Staff,DC=klinikum-nord,DC=local",
        **overrides,
    }


def test_the_ad_preset_reads_what_active_directory_keeps() -> None:
    source = LdapSource.model_validate(ad())
    assert source.filter == "(&(objectCategory=person)(objectClass=user))"
    assert source.key == "objectGUID" and source.url == ("ldaps://dc1.klinikum-nord.local",)
    assert source.attributes.name == ("displayName", "cn")
    assert source.attributes.location == ("physicalDeliveryOfficeName",)
    assert source.attributes.phones == {"desk": ("telephoneNumber",), "mobile": ("mobile",), "extension": ("ipPhone",)}
    assert source.disabled is not None and (source.disabled.attribute, source.disabled.bit) == ("userAccountControl", 2)
    assert (
        source.disabled.matches(["514"]) and source.disabled.matches(["66050"]) and not source.disabled.matches(["512"])
    )
    assert not source.disabled.matches(["garbage"]) and not source.disabled.matches([])
    assert (source.page_size, source.min_share, source.require_number, source.interval_s) == (500, 0.5, True, None)
    assert set(source.attribute_names()) == {
        "objectGUID", "displayName", "cn", "department", "physicalDeliveryOfficeName", "mail", "telephoneNumber",
        "mobile", "ipPhone", "userAccountControl",
    }  # fmt: skip


def test_the_openldap_preset_and_field_by_field_overrides() -> None:
    source = LdapSource.model_validate(
        {
            "type": "openldap",
            "url": ["ldap://ldap1.st-marien.example:389", "ldap://ldap2.st-marien.example"],
            "start_tls": True,
            "base_dn": "ou=people,dc=st-marien,dc=example",
            "attributes": {"name": ["cn"], "phones": {"dect": ["pager"], "extension": []}},
            "disabled": {"attribute": "employeeType", "values": ["ausgeschieden", "inactive"]},
            "interval_s": 900,
        }
    )
    assert source.filter == "(objectClass=inetOrgPerson)" and source.key == "entryUUID"
    assert source.attributes.name == ("cn",) and source.attributes.department == ("departmentNumber", "ou")
    assert source.attributes.phones == {
        "desk": ("telephoneNumber",), "mobile": ("mobile",), "extension": (), "dect": ("pager",)
    }  # fmt: skip
    assert source.disabled is not None and source.disabled.matches(["Inactive"]) and not source.disabled.matches(["x"])
    assert source.bind_dn is None and source.password() is None  # anonymous
    assert source.interval(3600) == 900


def test_disabled_null_switches_detection_off_and_presence_is_a_rule() -> None:
    assert LdapSource.model_validate(ad(disabled=None)).disabled is None
    presence = LdapSource.model_validate(ad(disabled={"attribute": "pwdAccountLockedTime"})).disabled
    assert presence is not None and presence.matches(["000001010000Z"]) and not presence.matches([])


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"url": "http://dc1.example"}, "is not an ldap:// or ldaps:// URL"),
        ({"url": "ldap://dc1.example/dc=example?cn"}, "give only scheme, host and port"),
        ({"url": []}, "at least 1 item"),
        ({"start_tls": True}, "start_tls is for ldap:// URLs"),
        ({"bind_password_env": None}, "bind_dn needs exactly one of"),
        ({"bind_password_file": "/run/secrets/ldap"}, "bind_dn needs exactly one of"),
        ({"bind_dn": None}, "a bind password without bind_dn"),
        ({"key": "object GUID"}, "key"),
        ({"min_share": 1.5}, "min_share"),
        ({"page_size": 0}, "page_size"),
        ({"disabled": {"attribute": "userAccountControl", "bit": 2, "values": ["x"]}}, "either bit or values"),
        ({"bind_password": "Geheim123"}, "Extra inputs are not permitted"),
        ({"attributes": {"name": []}}, "attributes.name"),
        ({"attributes": {"phones": {"fax2": ["x"]}}}, "attributes.phones.fax2"),
    ],
)
def test_a_bad_block_names_its_tenant_field_and_problem(change: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_sources({"klinikum-nord": ad(**change)}, "ldap.yaml")
    assert caught.value.message.startswith("ldap.yaml: klinikum-nord: ") and problem in caught.value.message
    assert "\n" not in caught.value.message  # one line at the shell


def test_every_problem_of_the_file_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_sources({" klinikum-nord": ad(), "klinikum-sued": {"type": "novell"}, 42: {}, "ost": ad(url=1)}, "f")
    assert caught.value.details["problems"] == [
        "' klinikum-nord' is not a tenant slug",
        "klinikum-sued: type must be ad or openldap, got 'novell'",
        "42 is not a tenant slug",
        "ost: url: Input should be a valid tuple",
    ]
    for text, message in [
        ("- a\n- b\n", "expected a mapping of tenant"),
        ("klinikum-nord: {type: ad\n", "is not valid YAML"),
    ]:
        path = tmp_path / "ldap.yaml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=message):
            load_sources(path)
    with pytest.raises(ConfigError, match="cannot read the LDAP configuration"):
        load_sources(tmp_path / "missing.yaml")
    (tmp_path / "empty.yaml").write_text("", encoding="utf-8")
    assert load_sources(tmp_path / "empty.yaml") == {}


def test_the_password_comes_from_the_environment_or_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = LdapSource.model_validate(ad())
    monkeypatch.delenv("UHD_LDAP_PASSWORD_KLINIKUM_NORD", raising=False)
    with pytest.raises(DirectorySourceError, match="UHD_LDAP_PASSWORD_KLINIKUM_NORD is not set"):
        source.password()
    monkeypatch.setenv("UHD_LDAP_PASSWORD_KLINIKUM_NORD", "Dienst-Konto!")
    assert source.password() == "Dienst-Konto!"
    assert "Dienst-Konto" not in repr(source)  # the file names the variable, never the value

    secret = tmp_path / "ldap-password"
    secret.write_text("aus-der-Datei\n", encoding="utf-8")
    from_file = LdapSource.model_validate(ad(bind_password_env=None, bind_password_file=str(secret)))
    assert from_file.password() == "aus-der-Datei"
    secret.write_text("\n", encoding="utf-8")
    with pytest.raises(DirectorySourceError, match="is empty"):
        from_file.password()
    missing = LdapSource.model_validate(ad(bind_password_env=None, bind_password_file=str(tmp_path / "none")))
    with pytest.raises(DirectorySourceError, match="cannot read the LDAP bind password file"):
        missing.password()


def test_the_shipped_example_is_valid_and_a_tenant_without_a_block_is_named() -> None:
    sources = load_sources(EXAMPLE)
    assert {s.type for s in sources.values()} == {"ad", "openldap"}
    with pytest.raises(ConfigError, match="has no source for tenant 'klinikum-ost'"):
        source_of(sources, "klinikum-ost", EXAMPLE)
