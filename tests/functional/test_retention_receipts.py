"""Receipt codes of self-reports expire 12 months after the report (or the case it became) is
closed: the retention run empties their keyed hash, audited without the hash; the dry run
changes nothing; a second run does nothing; the retention page shows the rule."""

from __future__ import annotations

import json
import secrets
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from caseapp.clock import local_today
from caseapp.models import AuditEvent, Unit
from caseapp.models.selfreports import SelfReport
from caseapp.services.privacy import receipts
from tests.factories import Visitor
from tests.functional.retention_support import closed_case
from tests.functional.selfreport_support import add_self_report


def _hash() -> str:
    return secrets.token_hex(32)


def _report(db, world, status, closed_on=None, case_id=None, school="SCH-A") -> SelfReport:
    report = add_self_report(
        db,
        db.get(Unit, world.units[school]),
        date(2019, 1, 2),
        status,
        closed_on=closed_on,
        case_id=case_id,
        receipt_hash=_hash(),
    )
    db.commit()
    return report


def _reports(db, world) -> dict[str, SelfReport]:
    today = local_today()
    year_ago = (
        today.replace(year=today.year - 1)
        if (today.month, today.day) != (2, 29)
        else (today - timedelta(days=365))
    )
    closed_case_long_ago = closed_case(db, world, date(2019, 1, 2), year_ago - timedelta(days=3))
    open_case = closed_case(db, world, date(2019, 1, 2), None)
    recent_case = closed_case(db, world, date(2019, 1, 2), today - timedelta(days=30))
    return {
        "closed": _report(db, world, "closed", closed_on=year_ago - timedelta(days=1)),
        "spam": _report(db, world, "spam", closed_on=year_ago - timedelta(days=400)),
        "closed_recently": _report(db, world, "closed", closed_on=year_ago + timedelta(days=2)),
        "waiting": _report(db, world, "seen"),
        "accepted_closed": _report(db, world, "accepted", case_id=closed_case_long_ago.id),
        "accepted_open": _report(db, world, "accepted", case_id=open_case.id),
        "merged_recent": _report(db, world, "merged", case_id=recent_case.id),
    }


def _run(app, *args):
    return app.test_cli_runner().invoke(args=["retention", "run", *args])


def _events(db, action="selfreport.receipt_expire") -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _kept(db, reports) -> set[str]:
    db.expire_all()
    return {k for k, r in reports.items() if db.get(SelfReport, r.id).receipt_hash is not None}


def test_what_falls_due(db, world):
    reports = _reports(db, world)
    found = {d.report_id for d in receipts.due(db, local_today())}
    names = {r.id: k for k, r in reports.items()}
    assert {names[i] for i in found if i in names} == {"closed", "spam", "accepted_closed"}
    # Looking 90 days ahead, the report closed a little less than a year ago comes too.
    ahead = {d.report_id for d in receipts.due(db, local_today(), 90)}
    assert reports["closed_recently"].id in ahead
    assert reports["waiting"].id not in ahead and reports["accepted_open"].id not in ahead
    # Kept to the units asked for.
    other = db.get(Unit, world.units["SCH-B"])
    assert not [
        d for d in receipts.due(db, local_today(), units=[other.path]) if d.report_id in names
    ]


def test_a_dry_run_changes_nothing(app, db, world):
    reports = _reports(db, world)
    before = db.scalar(select(func.count()).select_from(AuditEvent))
    result = _run(app, "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"receipt code of self-report #{reports['closed'].id} SCH-A" in result.output
    assert "3 receipt codes due" in result.output
    assert db.scalar(select(func.count()).select_from(AuditEvent)) == before
    assert _kept(db, reports) == set(reports)


def test_the_run_expires_exactly_the_due_codes_once(app, db, world):
    reports = _reports(db, world)
    hashes = {k: r.receipt_hash for k, r in reports.items()}
    result = _run(app)
    assert result.exit_code == 0, result.output
    assert "3 receipt codes expired" in result.output
    assert _kept(db, reports) == {"closed_recently", "waiting", "accepted_open", "merged_recent"}
    events = _events(db)
    assert sorted(int(e.object_id) for e in events) == sorted(
        reports[k].id for k in ("closed", "spam", "accepted_closed")
    )
    for e in events:
        assert e.object_type == "self_reports" and e.actor_id is None
        assert json.loads(e.changes) == {"receipt_code": ["kept", "expired"]}
        # The trail never keeps the hash the run removed.
        assert not any(h in (e.changes + e.object_ref) for h in hashes.values())
    again = _run(app)
    assert again.exit_code == 0 and "0 receipt codes expired" in again.output, again.output
    assert len(_events(db)) == 3


@pytest.mark.parametrize("who", ["officer_d1", "admin_d1"])
def test_the_retention_page_shows_the_rule(app, db, world, who):
    _reports(db, world)
    page = Visitor(app, db, world[who], lang="en").get("/privacy/retention")
    if page.status_code == 404:
        pytest.skip(f"{who} does not read the privacy pages")
    html = page.get_data(as_text=True)
    assert "Receipt codes of self-reports" in html
    assert "receipt codes of self-reports stop working in the next 90 days" in html
