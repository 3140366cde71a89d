"""The data-protection settings: the admin of the whole service adds and removes holidays (the
working-day clocks move with them) and corrects legal periods (version-locked, audited once
each); readers see them read-only; everyone else, a stale version, a missing CSRF token and bad
input are refused with nothing changed."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from caseapp.models import AuditEvent, Holiday, LegalPeriod
from caseapp.services.privacy.calendar import add_working_days
from tests.factories import Visitor

HOLIDAYS = "/privacy/settings/holidays"
PERIODS = "/privacy/settings/periods"
# A Wednesday no calendar marks: a request received the Monday before is due on the Thursday
# (3 working days), on the Friday once the Wednesday is a day off.
DAY_OFF = date(2027, 3, 10)
RECEIVED = date(2027, 3, 8)


def _events(db, action: str | None = None) -> int:
    db.expire_all()
    query = select(func.count()).select_from(AuditEvent)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return db.scalar(query)


def _holidays(db) -> list[tuple]:
    db.expire_all()
    return [(h.day, h.name) for h in db.scalars(select(Holiday).order_by(Holiday.day))]


def _periods(db) -> list[tuple]:
    db.expire_all()
    return [
        (p.key, p.amount, p.basis, p.version)
        for p in db.scalars(select(LegalPeriod).order_by(LegalPeriod.key))
    ]


def _period(db, key: str) -> LegalPeriod:
    db.expire_all()
    return db.get(LegalPeriod, key)


def test_a_day_off_added_and_removed_moves_a_working_day_deadline(app, db, world):
    admin = Visitor(app, db, world["admin_p"], lang="en")
    assert DAY_OFF not in {d for d, _ in _holidays(db)}
    assert add_working_days(db, RECEIVED, 3) == date(2027, 3, 11)

    r = admin.post(HOLIDAYS, {"day": "10/03/2027", "name": "Nghỉ bù"})
    assert r.status_code == 302 and "year=2027" in r.headers["Location"]
    assert (DAY_OFF, "Nghỉ bù") in _holidays(db)
    assert _events(db, "holiday.add") == 1
    assert add_working_days(db, RECEIVED, 3) == date(2027, 3, 12)
    page = admin.get(f"{HOLIDAYS}?year=2027").get_data(as_text=True)
    assert "10/03/2027" in page and "Nghỉ bù" in page and "ngày nghỉ bù" in page

    r = admin.post(f"{HOLIDAYS}/remove", {"day": DAY_OFF.isoformat()})
    assert r.status_code == 302
    assert DAY_OFF not in {d for d, _ in _holidays(db)}
    assert _events(db, "holiday.remove") == 1
    assert add_working_days(db, RECEIVED, 3) == date(2027, 3, 11)


def test_tet_is_preloaded_and_shown_by_year(app, db, world):
    auditor = Visitor(app, db, world["auditor_p"], lang="en")
    page = auditor.get(f"{HOLIDAYS}?year=2027").get_data(as_text=True)
    assert "Tết Nguyên đán" in page
    assert 'method="post"' not in page.split("<main", 1)[1]  # read-only for a reader
    assert auditor.get(f"{HOLIDAYS}?year=not-a-year").status_code == 200


def test_holiday_bad_input_is_refused_with_a_message(app, db, world):
    admin = Visitor(app, db, world["admin_p"], lang="en")
    before, events = _holidays(db), _events(db)
    for fields, message in (
        ({"day": "02/09/2027", "name": "Quốc khánh"}, "already a holiday"),
        ({"day": "31/02/2027", "name": "Nghỉ bù"}, "dd/mm/yyyy"),
        ({"day": "2027-03-10", "name": "Nghỉ bù"}, "dd/mm/yyyy"),
        ({"day": "10/03/2027", "name": "  "}, "Give the holiday a name"),
        ({"day": "10/03/2027", "name": "x" * 121}, "at most 120 characters"),
    ):
        r = admin.post(HOLIDAYS, fields)
        assert r.status_code == 400, fields
        assert message in r.get_data(as_text=True), fields
    assert admin.post(f"{HOLIDAYS}/remove", {"day": "2027-03-10"}).status_code == 404
    assert _holidays(db) == before and _events(db) == events


def test_a_period_corrected_is_audited_once_with_old_and_new(app, db, world):
    admin = Visitor(app, db, world["admin_p"], lang="en")
    version = _period(db, "request_access").version
    r = admin.post(
        PERIODS,
        {
            "key": "request_access",
            "version": str(version),
            "amount": "12",
            "basis": "Điều 14 (sửa)",
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    after = _period(db, "request_access")
    assert (after.amount, after.basis, after.version) == (12, "Điều 14 (sửa)", version + 1)
    db.expire_all()
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "period.update")).one()
    assert '"amount": [10, 12]' in event.changes and '"basis": "changed"' in event.changes
    page = admin.get(PERIODS).get_data(as_text=True)
    assert "Điều 14 (sửa)" in page and "come from the law" in page


def test_a_stale_version_is_409_with_the_current_values_and_nothing_changed(app, db, world):
    admin = Visitor(app, db, world["admin_p"], lang="en")
    line = _period(db, "breach_notify")
    stale = str(line.version)
    ok = {"key": line.key, "version": stale, "amount": "48", "basis": line.basis}
    assert admin.post(PERIODS, ok).status_code == 302
    before, events = _periods(db), _events(db)
    r = admin.post(PERIODS, {**ok, "amount": "96"})
    assert r.status_code == 409
    page = r.get_data(as_text=True)
    assert "Someone changed this period" in page and 'value="48"' in page
    assert "Your entry was: 96" in page
    assert _periods(db) == before and _events(db) == events


def test_only_the_admin_of_the_whole_service_changes_the_settings(app, db, world):
    before_h, before_p, events = _holidays(db), _periods(db), _events(db)
    line = _period(db, "request_access")
    change = {"key": line.key, "version": str(line.version), "amount": "1", "basis": "x"}
    holiday = {"day": "10/03/2027", "name": "Nghỉ bù"}
    for who, status in (("officer_d1", 403), ("auditor_p", 403), ("focal_a", 403)):
        person = Visitor(app, db, world[who])
        assert person.post(PERIODS, change).status_code == status, who
        assert person.post(HOLIDAYS, holiday).status_code == status, who
        assert person.post(f"{HOLIDAYS}/remove", {"day": "2027-09-02"}).status_code == status
    assert Visitor(app, db, world["focal_a"]).get(PERIODS).status_code == 403
    district_admin = Visitor(app, db, world["admin_d1"])  # an admin of one district only
    assert district_admin.post(PERIODS, change).status_code == 404
    assert district_admin.post(HOLIDAYS, holiday).status_code == 404
    assert district_admin.post(f"{HOLIDAYS}/remove", {"day": "2027-09-02"}).status_code == 404
    assert _holidays(db) == before_h and _periods(db) == before_p and _events(db) == events


def test_missing_csrf_is_refused(app, db, world):
    admin = Visitor(app, db, world["admin_p"])
    before_h, before_p, events = _holidays(db), _periods(db), _events(db)
    line = _period(db, "request_access")
    change = {"key": line.key, "version": str(line.version), "amount": "11", "basis": "x"}
    assert admin.post(PERIODS, change, csrf=False).status_code == 400
    assert admin.post(HOLIDAYS, {"day": "10/03/2027", "name": "N"}, csrf=False).status_code == 400
    assert admin.post(f"{HOLIDAYS}/remove", {"day": "2027-09-02"}, csrf=False).status_code == 400
    assert _holidays(db) == before_h and _periods(db) == before_p and _events(db) == events


def test_period_bad_input_is_refused_with_a_message(app, db, world):
    admin = Visitor(app, db, world["admin_p"], lang="en")
    before, events = _periods(db), _events(db)
    line = _period(db, "breach_notify")
    base = {"key": line.key, "version": str(line.version), "amount": "72", "basis": line.basis}
    for fields, message in (
        ({"amount": "0"}, "whole number from 1 to 720"),
        ({"amount": "7200"}, "whole number from 1 to 720"),
        ({"amount": "7.5"}, "whole number"),
        ({"amount": "-1"}, "whole number"),
        ({"basis": "  "}, "Write the legal basis"),
        ({"basis": "Đ" * 1001}, "at most 1000 characters"),
    ):
        r = admin.post(PERIODS, {**base, **fields})
        assert r.status_code == 400, fields
        assert message in r.get_data(as_text=True), fields
    assert admin.post(PERIODS, {**base, "key": "no_such_period"}).status_code == 404
    assert _periods(db) == before and _events(db) == events
