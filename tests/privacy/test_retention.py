"""Each data class's rule at its boundary (one second before and after its period), per-tenant periods, the other
tenant untouched, the dry run writes nothing, a second run does nothing more (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.privacy.rows import NOW, SECOND, World, audit, days_ago
from tests.support.webapp import TENANT_A, TENANT_B
from uhd_telephony.errors import InvalidInput
from uhd_telephony.feedback.models import ratings
from uhd_telephony.mailin.models import attachments, messages
from uhd_telephony.outbox.models import outbox
from uhd_telephony.privacy.periods import Periods
from uhd_telephony.privacy.pseudonyms import NAME_PREFIX, TOKEN_PREFIX
from uhd_telephony.privacy.retention import Retention
from uhd_telephony.privacy.rules import callbacks, calls, subscriptions
from uhd_telephony.tickets.view import tickets

A, B = TENANT_A, TENANT_B


def retention(world: World, **kw: object) -> Retention:
    return Retention(world.db, clock=lambda: NOW, **kw)  # type: ignore[arg-type]


async def test_call_numbers_are_cut_to_their_area_after_six_months(world: World) -> None:
    gone = await world.call(A, days_ago(183, -SECOND))
    kept = await world.call(A, days_ago(183, SECOND))
    inside = await world.call(A, days_ago(400), number="4711", channel="PJSIP/4711-01")  # an extension: removed
    running = await world.call(A, days_ago(400), outcome=None, ended_at=None)  # in progress: never touched
    other = await world.call(B, days_ago(183, -SECOND))
    await Periods(world.db).set(B, "call_numbers", 365, "test")
    went = {(d.tenant, d.data_class.code): d.count for d in await retention(world).apply([A, B])}
    assert went[(A, "call_numbers")] == 2 and went[(B, "call_numbers")] == 0
    row = await world.row(calls, gone)
    assert (row.caller_number, row.caller_name, row.channel) == ("+49 221 ***", "", "PJSIP/***")
    assert row.variables == {"UHD_CATEGORY": "kis"}  # the caller's directory user gone, the rest kept
    assert (row.entered_at, row.outcome, row.wait_s, row.talk_s, row.linkedid) == (
        days_ago(183, -SECOND), "answered", 20.0, 100.0, f"l{gone}",
    )  # fmt: skip
    assert (await world.row(calls, inside)).caller_number == ""
    for untouched in (kept, running, other):
        assert (await world.row(calls, untouched)).caller_name == "Hans Anrufer"


async def test_closed_callbacks_sent_mails_received_mails_and_audit_entries_are_deleted(world: World) -> None:
    cb_gone, cb_kept = await world.callback(A, days_ago(90, -SECOND)), await world.callback(A, days_ago(90, SECOND))
    cb_open = await world.callback(A, days_ago(200), status="open")
    out_gone = await world.outbox(A, days_ago(30, -SECOND))
    out_kept = await world.outbox(A, days_ago(30, SECOND))
    out_pending = await world.outbox(A, days_ago(200), status="pending")
    ticket = await world.ticket(A, days_ago(10), status="new")
    mail_gone, mail_kept = (
        await world.mail(A, days_ago(365, -SECOND), ticket),
        await world.mail(A, days_ago(364), ticket),
    )
    audit_gone, audit_kept = await world.audit(days_ago(365, -SECOND)), await world.audit(days_ago(365, SECOND))
    b_callback = await world.callback(B, days_ago(300))
    await retention(world).apply([A, B])
    assert await world.row(callbacks, cb_gone) is None and await world.row(callbacks, b_callback) is None
    assert await world.row(callbacks, cb_kept) is not None and await world.row(callbacks, cb_open) is not None
    assert await world.row(outbox, out_gone) is None
    assert await world.row(outbox, out_kept) is not None and await world.row(outbox, out_pending) is not None
    assert await world.row(messages, mail_gone) is None and await world.row(messages, mail_kept) is not None
    assert await world.count(attachments, attachments.c.mail_id == mail_gone) == 0
    assert await world.count(attachments, attachments.c.mail_id == mail_kept) == 1
    assert await world.row(audit, audit_gone) is None and await world.row(audit, audit_kept) is not None


async def test_subscriptions_and_comments_keep_their_rows_and_figures(world: World) -> None:
    sub_gone, sub_kept = (await world.subscription(A, days_ago(90, -SECOND)),
                          await world.subscription(A, days_ago(90, SECOND)))  # fmt: skip
    waiting = await world.subscription(A, days_ago(200), notified=False)
    ticket = await world.ticket(A, days_ago(10), status="new")
    other = await world.ticket(A, days_ago(10), status="new", number="+4930123456")
    rated_gone, rated_kept = (await world.rating(A, days_ago(365, -SECOND), ticket),
                              await world.rating(A, days_ago(365, SECOND), other))  # fmt: skip
    await retention(world).apply([A])
    row = await world.row(subscriptions, sub_gone)
    assert row.number.startswith(TOKEN_PREFIX) and (row.name, row.email, row.user_id) == (None, None, None)
    assert (await world.row(subscriptions, sub_kept)).number == "+492214711"
    assert (await world.row(subscriptions, waiting)).email == "hans@example.org"  # not told yet: kept
    gone = await world.row(ratings, rated_gone)
    assert (gone.comment, gone.score) == ("", 4)
    assert (await world.row(ratings, rated_kept)).comment == "Hans war zufrieden"


async def test_ticket_requesters_go_person_by_person(world: World) -> None:
    cutoff = 730
    old = await world.ticket(A, days_ago(cutoff, -SECOND), number="+4930111", name="Olga Alt", email="olga@x.de")
    recent = await world.ticket(A, days_ago(cutoff, SECOND), number="+4930222", name="Rita Neu")
    # a regular caller: an old ticket and a recent one keep their requester together
    regular_old = await world.ticket(A, days_ago(900), number="+4930333", name="Karl Oft")
    await world.ticket(A, days_ago(5), number="+4930333", name="Karl Oft")
    # an old ticket still open keeps its requester (and the person's others)
    await world.ticket(A, days_ago(900), number="+4930444", name="Otto Offen", status="in_progress")
    user_old = await world.ticket(A, days_ago(800), number="+4930555", name="Uwe Nutzer", user_id=4242)
    user_again = await world.ticket(A, days_ago(1000), number="", name="Uwe Nutzer", user_id=4242)
    mail_only = await world.ticket(A, days_ago(800), number="", name="Mia Mail", email="mia@x.de")
    b_old = await world.ticket(B, days_ago(cutoff, -SECOND), number="+4930111", name="Olga Alt")
    await Periods(world.db).set(B, "ticket_requesters", 1000, "test")
    await retention(world).apply([A, B])
    row = await world.row(tickets, old)
    assert row.requester_name.startswith(NAME_PREFIX) and row.requester_number.startswith(TOKEN_PREFIX)
    assert row.requester_email is None and "Olga" not in row.subject and "+4930111" not in row.description
    assert (row.status, row.created_at) == ("closed", days_ago(cutoff, -SECOND))
    assert (await world.row(tickets, recent)).requester_name == "Rita Neu"
    assert (await world.row(tickets, regular_old)).requester_name == "Karl Oft"
    assert await world.count(tickets, tickets.c.requester_name == "Otto Offen") == 1
    first, second = await world.row(tickets, user_old), await world.row(tickets, user_again)
    # one person, one token: the report's repeat-caller groups stay the same groups
    assert first.requester_number == second.requester_number != ""
    assert first.requester_user_id is None and first.requester_name == second.requester_name
    mail = await world.row(tickets, mail_only)
    assert (mail.requester_number, mail.requester_email) == ("", None) and mail.requester_name.startswith(NAME_PREFIX)
    assert (await world.row(tickets, b_old)).requester_name == "Olga Alt"  # B keeps them 1000 days


async def test_the_same_person_gets_the_same_token_in_every_run(world: World) -> None:
    first = await world.ticket(A, days_ago(800), number="+4930777", name="Eva Zweimal")
    await retention(world).apply([A])
    second = await world.ticket(A, days_ago(799), number="+4930777", name="Eva Zweimal")
    await retention(world).apply([A])
    assert (await world.row(tickets, first)).requester_number == (await world.row(tickets, second)).requester_number


async def test_a_dry_run_writes_nothing_and_a_second_run_does_nothing(world: World) -> None:
    await world.call(A, days_ago(400))
    await world.callback(A, days_ago(400))
    ticket = await world.ticket(A, days_ago(800))
    await world.outbox(A, days_ago(400))
    await world.mail(A, days_ago(400), ticket)
    await world.subscription(A, days_ago(400))
    await world.rating(A, days_ago(400), ticket)
    await world.audit(days_ago(400))
    before = await world.dump()
    planned = {d.data_class.code: d for d in await retention(world).plan([A])}
    assert await world.dump() == before
    assert {code: d.count for code, d in planned.items() if d.count} == {
        "call_numbers": 1, "callbacks": 1, "ticket_requesters": 1, "outbox_sent": 1, "mail_in": 1,
        "incident_subscriptions": 1, "satisfaction_comments": 1, "audit_log": 1,
    }  # fmt: skip
    assert planned["call_numbers"].oldest == days_ago(400)
    went = {d.data_class.code: d.count for d in await retention(world).apply([A])}
    assert {code: n for code, n in went.items() if n} == {code: d.count for code, d in planned.items() if d.count}
    again = await retention(world).plan([A])
    assert all(d.count == 0 for d in again)
    assert all(d.count == 0 for d in await retention(world).apply([A]))


async def test_small_batches_reach_the_same_end(world: World) -> None:
    for n in range(7):
        await world.call(A, days_ago(400 + n))
        await world.ticket(A, days_ago(800 + n), number=f"+49301234{n}")
    small = retention(world, batch=2, max_batches=2)
    first = {d.data_class.code: (d.count, d.done) for d in await small.apply([A])}
    assert first["call_numbers"] == (4, False)
    while not all(d.done for d in await small.apply([A])):
        pass
    assert await world.count(calls, calls.c.caller_name != "") == 0
    assert await world.count(tickets, tickets.c.requester_name.like(f"{NAME_PREFIX}%")) == 7


@pytest.mark.parametrize(
    ("code", "days", "reason"),
    [("call_numbers", -1, "negative"), ("audit_log", 89, "at least 90"), ("outbox_sent", 6, "at least 7"),
     ("nonsense", 10, "unknown data class 'nonsense'"), ("callbacks", 10**6, "at most"),
     ("callbacks", "30", "whole number")],
)  # fmt: skip
async def test_periods_are_validated(world: World, code: str, days: Any, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        await Periods(world.db).set(A, code, days, "test")
    assert reason in caught.value.message


async def test_a_period_records_who_set_it_and_goes_back_to_the_default(world: World) -> None:
    periods = Periods(world.db)
    period = await periods.set(A, "callbacks", 30, "anna")
    assert (period.days, period.set_by) == (30, "anna") and period.set_at is not None
    assert {p.data_class.code: p.days for p in await periods.of(B)}["callbacks"] == 90
    await periods.set(B, "audit_log", 400, "anna")  # the installation's: every tenant sees it
    assert {p.data_class.code: p.days for p in await periods.of(A)}["audit_log"] == 400
    back = await periods.set(A, "callbacks", None, "anna")
    assert (back.days, back.set_by) == (90, None)


async def test_cutoffs_follow_the_clock(world: World) -> None:
    due = {d.data_class.code: d for d in await retention(world).plan([A])}
    assert due["call_numbers"].cutoff == NOW - timedelta(days=183)
    assert due["screen_pop"].count == 0


async def test_the_scanner_applies_the_same_rules_and_reports_its_health(world: World) -> None:
    from uhd_telephony.privacy.plugin import CAPABILITY
    from uhd_telephony.privacy.scanner import RetentionScanner

    await world.call(A, days_ago(400))
    await world.call(B, days_ago(400))
    bounded = RetentionScanner(retention(world, batch=1, max_batches=1), clock=lambda: NOW)
    assert await bounded.scan_once() == 2
    assert bounded.health()["pending"] is True and bounded.next_delay(False) < bounded.interval_s  # goes on soon
    await world.call(A, days_ago(500))
    scanner = RetentionScanner(retention(world), clock=lambda: NOW)
    assert await scanner.scan_once() == 1
    health = scanner.health()
    assert health["removed"] == {"call_numbers": 1} | {k: 0 for k in health["removed"] if k != "call_numbers"}  # type: ignore[operator]
    assert health["last_run"] == NOW.isoformat() and health["last_error"] is None
    assert health["pending"] is False and scanner.next_delay(False) == scanner.interval_s
    assert CAPABILITY.workers is not None and CAPABILITY.models == "uhd_telephony.privacy.models"
