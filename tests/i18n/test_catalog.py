"""Issue 16: the catalogs are complete. Every msgid the code uses (Python through the i18n API, the templates, the
pages' scripts and data-i18n attributes) has a German and an English entry; no German entry is empty; a
translation keeps its msgid's placeholders; every code the data stores has its label."""

from __future__ import annotations

import re

import pytest

from uhd_telephony.calls.records import Outcome
from uhd_telephony.directory.records import Role as PersonRole
from uhd_telephony.i18n import LOCALES, label, messages, translator
from uhd_telephony.i18n.catalog import po_catalog
from uhd_telephony.i18n.extract import html_msgids, js_msgids, missing, python_msgids, used_msgids
from uhd_telephony.i18n.labels import LABELS
from uhd_telephony.sla.clock import Kind, Target
from uhd_telephony.sla.escalation import ACKNOWLEDGED
from uhd_telephony.tickets.history import Action
from uhd_telephony.tickets.models import Channel, TicketStatus
from uhd_telephony.web.roles import Role

PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@pytest.fixture(scope="module")
def used() -> dict[str, set[str]]:
    return used_msgids()


@pytest.mark.parametrize("locale", LOCALES)
def test_every_msgid_the_code_uses_has_a_translation(locale: str, used: dict[str, set[str]]) -> None:
    gaps = {msgid: sorted(used[msgid]) for msgid in missing(locale, used)}
    assert not gaps, f"{locale}: add these to uhd_telephony/i18n/locale/{locale}/LC_MESSAGES/messages.po: {gaps}"


def test_the_extraction_finds_what_the_code_says() -> None:
    python = 'Msg("a"); N_("b"); t.gettext("c", x=1); gettext("de", "d"); t.ngettext("e", "es", 2); _("f"); other("g")'
    assert list(python_msgids(python)) == ["a", "b", "c", "d", "e", "f"]
    script = 't("A"); i18n.t("B %(n)s", {n}); tn("C", "Cs", 2); x.t("no"); format("no"); t(variable)'
    assert list(js_msgids(script)) == ["A", "B %(n)s", "C"]
    page = '<button data-i18n="Log out">Abmelden</button><input data-i18n-placeholder="DD.MM.YYYY">'
    assert list(html_msgids(page)) == ["Log out", "DD.MM.YYYY"]


def test_the_pages_and_their_scripts_have_msgids(used: dict[str, set[str]]) -> None:
    places = {place for files in used.values() for place in files}
    for page in ("login", "console", "tickets", "kpis"):
        assert f"uhd_telephony/web/static/{page}.html" in places, page
        assert f"uhd_telephony/web/static/{page}.js" in places, page
    assert "uhd_telephony/metrics/templates/report.html.j2" in places


@pytest.mark.parametrize("locale", LOCALES)
def test_no_entry_is_empty_and_placeholders_match(locale: str) -> None:
    for message in po_catalog(locale):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple | list) else (message.id,)
        texts = message.string if isinstance(message.string, tuple | list) else (message.string,)
        assert all(texts) and not message.fuzzy, f"{locale}: {ids[0]!r} has no translation"
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        for text in texts:
            # a translation may leave a placeholder out (a general sentence), never invent one
            assert set(PLACEHOLDER.findall(text)) <= wanted, (locale, ids[0], text)
            assert text.count("%") - 2 * text.count("%%") == len(PLACEHOLDER.findall(text)) or not wanted, (
                locale, ids[0], text,
            )  # fmt: skip


def test_both_catalogs_have_the_same_msgids() -> None:
    assert {m.id for m in po_catalog("de") if m.id} == {m.id for m in po_catalog("en") if m.id}


def test_every_stored_code_has_a_label_in_both_languages() -> None:
    enumerations = {
        "status": {s.value for s in TicketStatus},
        "public_status": {s.value for s in TicketStatus},
        "channel": {c.value for c in Channel},
        "action": {a.value for a in Action} | {ACKNOWLEDGED},
        "outcome": {o.value for o in Outcome},
        "role": {r.value for r in Role},
        "person_role": {r.value for r in PersonRole},
        "escalation_kind": {k.value for k in Kind},
        "sla_target": {t.value for t in Target},
    }
    for kind, codes in enumerations.items():
        assert codes <= set(LABELS[kind]), (kind, codes - set(LABELS[kind]))
        for locale in LOCALES:
            for code in codes:
                text = label(kind, code, locale)
                assert text and not text.startswith(f"{kind}."), (kind, code, locale, text)
                assert locale != "de" or text != code, (kind, code, text)  # German: never the stored code
    assert label("status", "in_progress", "de") == "In Bearbeitung"
    assert label("status", "in_progress", "en") == "In progress"
    assert label("channel", "phone", "de") == "Telefon"
    assert label("person_role", "other", "de") == "Sonstige"


def test_the_pages_catalog_is_the_servers() -> None:
    for locale in LOCALES:
        catalog = messages(locale)
        t = translator(locale)
        assert catalog["Log out"] == t.gettext("Log out")
        assert [n % {"n": 2} for n in catalog["%(n)s ticket"]] == [
            t.ngettext("%(n)s ticket", "%(n)s tickets", 1).replace("1", "2"),
            t.ngettext("%(n)s ticket", "%(n)s tickets", 2),
        ]
    assert translator("de").gettext("wrong username or password") == "Benutzername oder Passwort falsch"
    assert translator("xx").locale == "de"  # anything else: German
