"""A message's parameters render for their reader: codes as labels, a value someone gave between the reader's
quotation marks; the English ``message`` (programs, logs) keeps the codes and Python's quoting."""

from __future__ import annotations

import pickle

from uhd_telephony.i18n import Label, Labels, Msg, Quoted


def test_codes_read_as_labels_and_given_values_as_quotes() -> None:
    msg = Msg(
        "a partner sets %(statuses)s; closing and reopening stay with the helpdesk",
        statuses=Labels("status", ["in_progress", "resolved", "waiting"]),
    )
    assert msg == "a partner sets in_progress, resolved, waiting; closing and reopening stay with the helpdesk"
    assert "In Bearbeitung, Gelöst, Wartet auf Anrufer" in msg.render("de")
    number = Msg("no ticket %(number)s", number=Quoted("UHD-2026-1\n\x00x", 40))
    assert number == "no ticket 'UHD-2026-1\\n\\x00x'"  # the message as before: repr, escapes
    assert number.render("de") == "Ein Ticket „UHD-2026-1 x“ gibt es nicht."  # no control character for people
    assert number.render("en") == "There is no ticket “UHD-2026-1 x”."
    assert Quoted("x" * 100, 40) == repr("x" * 40)
    path = Quoted("kis/login", shown="KIS › Anmeldung")
    assert path == "'kis/login'" and path.render("de") == "„KIS › Anmeldung“"
    role = Msg("an account with role %(role)s needs at least one tenant", role=Label("role", "manager"))
    assert role == "an account with role manager needs at least one tenant"
    assert role.render("de") == "Ein Konto mit der Rolle „Leitung“ braucht mindestens einen Mandanten."


def test_the_parameters_survive_pickling() -> None:
    msg = Msg("no ticket %(number)s", number=Quoted("UHD-1", shown="Ticket 1"))
    again = pickle.loads(pickle.dumps(msg))
    assert again == msg and again.render("de") == msg.render("de")
    listed = pickle.loads(pickle.dumps(Labels("role", ["admin", "agent"])))
    assert listed == "admin, agent" and listed.render("de") == "Administration, Agent"
