"""Consent notices (issue 15, part 5): the intake shows what is recorded and why, a printable
notice carries its version, and every consent stores (and shows) the version it was given under."""

from __future__ import annotations

import html
import json

from flask_babel import force_locale
from sqlalchemy import func, select, update

from caseapp.clock import local_today
from caseapp.models import AuditEvent, Case, CaseConsent
from caseapp.services.privacy import notices
from tests.factories import Visitor
from tests.functional.case_attack_support import actions_after, audit_head

VERSION = notices.NOTICE_VERSION


def _consent(case, tick: bool) -> dict:
    return {
        "about": case.harmed_people[0].uid,
        "party": "guardian",
        "purpose": "referral",
        "given_on": local_today().isoformat(),
        "notice_given": "y" if tick else None,
    }


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_the_intake_page_shows_what_is_recorded_and_why(app, db, world):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    page = _text(focal.get("/cases/new"))
    assert "<details" in page and "What we record and why" in page
    assert "the Personal Data Protection Law (Law 91/2025/QH15)" in page
    assert f"version {VERSION}" in page and 'href="/cases/notice"' in page


def test_the_notice_page_shows_its_version_and_paragraphs_in_vietnamese(app, db, world):
    """Vietnamese by default: what parents read."""
    for person in ("focal_a", "officer_d1", "auditor_p"):
        page = Visitor(app, db, world[person]).get("/cases/notice")
        assert page.status_code == 200
        text = _text(page)
        assert f"Thông báo phiên bản {VERSION}" in text
        assert "Nhà trường ghi lại những gì và để làm gì" in text
        assert "Luật Bảo vệ dữ liệu cá nhân (Luật số 91/2025/QH15)" in text
        assert "rút lại sự đồng ý" in text
    english = _text(Visitor(app, db, world["focal_a"], lang="en").get(f"/cases/notice/{VERSION}"))
    with app.test_request_context(), force_locale("en"):
        sections = notices.notice(VERSION)
    for section in sections:
        assert section.title in english
        assert all(paragraph in english for paragraph in section.paragraphs)
    assert sum(len(s.paragraphs) for s in sections) >= 10


def test_an_unknown_notice_version_is_404(app, db, world):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    for version in ("1999-01", "x" * 300, "%00", "2026-12x"):
        assert focal.get(f"/cases/notice/{version}").status_code == 404


def test_the_notice_needs_a_signed_in_person(app, client):
    r = client.get("/cases/notice")
    assert r.status_code in (302, 401) and "/cases/notice" not in (r.location or "").split("?")[0]


def test_a_consent_without_the_notice_ticked_is_refused_and_nothing_saved(app, db, world):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    case = focal.intake(db, world.units["SCH-A"])
    start = audit_head(db)
    outcome = focal.submit(f"/cases/{case.public_id}/consents", _consent(case, tick=False))
    assert "Tick the box to confirm the person was given or read the notice." in outcome.text
    assert "Consent recorded." not in outcome.text
    assert actions_after(db, start) == []
    assert db.scalar(select(func.count(CaseConsent.id)).where(CaseConsent.case_id == case.id)) == 0


def test_a_consent_stores_the_notice_version_and_the_case_page_links_it(app, db, world):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    case = focal.intake(db, world.units["SCH-A"])
    base = f"/cases/{case.public_id}"
    page = _text(focal.get(base))
    assert f"The person was shown the notice (version {VERSION})." in page
    assert 'name="notice_given"' in page and "I have given or read the notice to the person" in page
    outcome = focal.submit(f"{base}/consents", _consent(case, tick=True))
    assert "Consent recorded." in outcome.text
    db.expire_all()
    [consent] = db.scalars(select(CaseConsent).where(CaseConsent.case_id == case.id))
    assert consent.notice_version == VERSION
    event = db.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "consent.record")
        .order_by(AuditEvent.seq.desc())
    ).first()
    assert json.loads(event.changes)["notice_version"] == [None, VERSION]
    page = _text(focal.get(base))
    assert f'href="/cases/notice/{VERSION}">version {VERSION}</a>' in page
    assert focal.get(f"/cases/notice/{VERSION}").status_code == 200


def test_an_older_consent_without_a_version_shows_a_dash(app, db, world):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    case = focal.intake(db, world.units["SCH-A"])
    assert focal.submit(f"/cases/{case.public_id}/consents", _consent(case, tick=True))
    db.expire_all()
    # As recorded before notices were versioned (the column was added empty).
    db.execute(
        update(CaseConsent).where(CaseConsent.case_id == case.id).values(notice_version=None)
    )
    db.commit()
    page = _text(focal.get(f"/cases/{db.get(Case, case.id).public_id}"))
    assert 'data-label="Notice shown">—</td>' in page
    assert f'href="/cases/notice/{VERSION}"' not in page


def test_every_notice_version_is_kept_and_the_current_one_is_known():
    assert VERSION in notices.NOTICES
    assert notices.known_version(VERSION) and not notices.known_version(None)
    assert not notices.known_version("1999-01")


def test_an_older_version_is_shown_as_such_with_a_link_to_the_current(app, db, world, monkeypatch):
    older = [notices.NoticeSection("An older heading", ("An older paragraph.",))]
    monkeypatch.setitem(notices.NOTICES, "2026-01", lambda: older)
    focal = Visitor(app, db, world["focal_a"], lang="en")
    page = _text(focal.get("/cases/notice/2026-01"))
    assert "Notice version 2026-01" in page and "An older paragraph." in page
    assert "This is an older version of the notice" in page
    assert f"See the current version ({VERSION})" in page
    current = _text(focal.get("/cases/notice"))
    assert "An older paragraph." not in current and "older version" not in current
