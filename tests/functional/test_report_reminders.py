"""Reminders of the period reports: 14, 7 and 1 days before the due date, to the people who
write each open unit's report that has not been submitted; once each, never late, and by
e-mail naming no unit, case or person."""

from __future__ import annotations

import re
from datetime import date, timedelta
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from sqlalchemy import select, update

from caseapp.models import Notification, Unit
from caseapp.services.equality import reminders
from caseapp.services.reports import periods as reports
from tests.factories import Visitor
from tests.functional.report_support import frozen_snapshot, unit, user
from tests.functional.test_referral_and_notifications import (  # noqa: F401 - the fixture
    _give_addresses,
    _send_due,
    inbox,
)

# The six-month period 01/11/2025 - 30/04/2026, due 15/05/2026 (the default configuration).
PERIOD = reports.Period(
    "six_month:2026", "six_month", date(2025, 11, 1), date(2026, 4, 30), date(2026, 5, 15)
)
DUE = PERIOD.due_on


def _run(db, monkeypatch, day: date) -> int:
    monkeypatch.setattr(reminders, "local_today", lambda: day)
    created = reminders.notify_due_reports(db)
    db.commit()
    return created


def _sent(db) -> set[tuple[int, str, int]]:
    """(days before, unit code, user id) of every reminder."""
    codes = dict(db.execute(select(Unit.id, Unit.code)).all())
    out = set()
    for key in db.scalars(select(Notification.dedupe_key).where(Notification.kind == "report.due")):
        _kind, _pkind, _year, days, unit_id, user_id = key.split(":")
        out.add((int(days), codes[int(unit_id)], int(user_id)))
    return out


def _for(world, *pairs) -> set[tuple[str, int]]:
    return {(code, world[name].id) for code, name in pairs}


def test_reminders_go_14_7_and_1_days_before_once_each(db, world, monkeypatch):
    assert reports.period_by_key(PERIOD.key) == PERIOD
    assert _run(db, monkeypatch, DUE - timedelta(days=15)) == 0
    created = _run(db, monkeypatch, DUE - timedelta(days=14))
    sent = _sent(db)
    assert created == len(sent) > 0 and {days for days, *_ in sent} == {14}
    pairs = {(code, uid) for _days, code, uid in sent}
    # The focal point at the school; the officers of each office for its own report only.
    assert (
        _for(
            world,
            ("SCH-A", "focal_a"),
            ("SCH-B", "focal_b"),
            ("SCH-C", "focal_c"),
            ("D1", "officer_d1"),
            ("D2", "officer_d2"),
            ("PRV", "officer_p"),
        )
        <= pairs
    )
    assert ("SCH-A", world["officer_d1"].id) not in pairs
    assert ("SCH-A", world["officer_p"].id) not in pairs
    assert not [p for p in pairs if p[1] in (world["admin_p"].id, world["auditor_p"].id)]

    assert _run(db, monkeypatch, DUE - timedelta(days=14)) == 0  # a second run: nothing
    assert _run(db, monkeypatch, DUE - timedelta(days=10)) == 0
    assert _run(db, monkeypatch, DUE - timedelta(days=7)) == created
    assert _run(db, monkeypatch, DUE - timedelta(days=3)) == 0
    assert _run(db, monkeypatch, DUE - timedelta(days=1)) == created
    assert _run(db, monkeypatch, DUE) == 0  # due today: no reminder after the last
    assert _run(db, monkeypatch, DUE + timedelta(days=2)) == 0
    assert {days for days, *_ in _sent(db)} == {14, 7, 1}


def test_a_missed_day_sends_the_latest_reminder_once_not_the_earlier_ones(db, world, monkeypatch):
    assert _run(db, monkeypatch, DUE - timedelta(days=5)) > 0
    assert {days for days, *_ in _sent(db)} == {7}
    assert _run(db, monkeypatch, DUE - timedelta(days=4)) == 0


def _submit(db, world, code: str) -> None:
    frozen_snapshot(db, unit(db, world, code), PERIOD, {}, user(db, world, "focal_a"))


def test_a_unit_that_submitted_or_closed_is_not_reminded(db, world, monkeypatch):
    _submit(db, world, "SCH-A")
    # SCH-C closes: it is not reminded, nor is D2, which has no open unit left below it.
    db.execute(update(Unit).where(Unit.code == "SCH-C").values(valid_to=date(2026, 3, 1)))
    db.commit()
    _run(db, monkeypatch, DUE - timedelta(days=7))
    # (Only the test world's units: on PostgreSQL the database may hold other tests' units.)
    codes = {code for _days, code, _uid in _sent(db)} & set(world.units)
    assert codes == {"SCH-B", "D1", "PRV"}


def test_the_notice_says_which_report_is_due_and_leads_to_it(app, db, world, monkeypatch):
    _run(db, monkeypatch, DUE - timedelta(days=7))
    focal = Visitor(app, db, world["focal_a"], lang="en")
    page = focal.get("/notifications").get_data(as_text=True)
    assert (
        "The six-month report for the period 01/11/2025 - 30/04/2026 is due on 15/05/2026" in page
    )
    [notice] = db.scalars(select(Notification).where(Notification.user_id == world["focal_a"].id))
    r = focal.get(f"/notifications/{notice.id}")
    assert r.status_code == 302
    assert r.headers["Location"].endswith("/equality/?unit=SCH-A&period=six_month%3A2026")
    # Someone else's reminder is not theirs to open.
    assert Visitor(app, db, world["focal_b"]).get(f"/notifications/{notice.id}").status_code == 404


@pytest.mark.usefixtures("inbox")
def test_reminders_are_mailed_once_naming_no_unit(app, db, world, monkeypatch, inbox):  # noqa: F811
    addresses = _give_addresses(db, world, "focal_a", "officer_d1")
    monkeypatch.setattr(reminders, "local_today", lambda: DUE - timedelta(days=1))
    created, sent = _send_due(app)
    assert created > 0 and sent == len(inbox.messages) == 2
    assert sorted(r for rcpt, _raw in inbox.messages for r in rcpt) == sorted(addresses.values())
    for _rcpt, raw in inbox.messages:
        message = message_from_bytes(raw, policy=default_policy)
        body = message.get_content()
        text = str(message["Subject"]) + body
        for forbidden in ("Trường A", "SCH-A", "Phòng Giáo dục", "D1", "case"):
            assert forbidden.lower() not in text.lower(), text
        assert "15/05/2026" in body
        assert re.findall(r"https://truonghoc\.example/\S+", body)[0].startswith(
            "https://truonghoc.example/notifications/"
        )
    assert _send_due(app) == (0, 0) and len(inbox.messages) == 2


def test_an_account_that_also_administers_is_not_reminded(db, world, monkeypatch):
    """An account holding administration and an officer grant from before the separation of
    duties acts only as administrator: the officer's reminder is not theirs."""
    from caseapp.models import Grant
    from caseapp.runtime import keyring
    from caseapp.services.audit.trail import record
    from tests.factories import make_user

    d1 = unit(db, world, "D1")
    both = make_user(db, keyring(), "admin.officer", d1, [("admin", d1)])
    grant = Grant(user_id=both.id, role="officer", unit_id=d1.id)
    db.add(grant)
    record(db, None, "user.grant", grant, unit=d1)
    db.commit()
    _run(db, monkeypatch, DUE - timedelta(days=7))
    reminded = {uid for _days, _code, uid in _sent(db)}
    assert world["officer_d1"].id in reminded and both.id not in reminded
