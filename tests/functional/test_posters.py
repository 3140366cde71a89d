"""Part 6 of the self-report issue: a school's A4 poster (QR code of its public page, the
address in big letters, the school code and name, the 111 line), printed by the focal points,
officers and admins of the school, nobody else; only schools have one."""

from __future__ import annotations

import dataclasses
import re

import pytest
import segno
from sqlalchemy import func, select

from caseapp.models import AuditEvent
from tests.factories import Visitor

POSTER = "/admin/units/{code}/poster"


def _get(app, db, world, who, code="SCH-A", lang="en"):
    return Visitor(app, db, world[who], lang=lang).get(POSTER.format(code=code))


@pytest.fixture()
def published(app):
    """The service's public base URL configured, as in production."""
    original = app.extensions["caseapp.settings"]
    app.extensions["caseapp.settings"] = dataclasses.replace(
        original, base_url="https://truonghoc.example.vn/"
    )
    yield
    app.extensions["caseapp.settings"] = original


@pytest.mark.usefixtures("published")
def test_the_poster_of_a_school(app, db, world):
    events = db.scalar(select(func.count()).select_from(AuditEvent))
    r = _get(app, db, world, "focal_a")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    poster = html[html.index('<article class="poster"') :]
    assert 'lang="vi"' in poster[:80]  # in Vietnamese whatever the printer reads
    assert "Đang gặp nguy hiểm? Gọi 111" in poster
    assert "truonghoc.example.vn/r/SCH-A" in poster  # the short address, big
    assert "Trường A" in poster and "<strong>SCH-A</strong>" in poster
    # The QR code: an inline SVG made here, of the absolute address, no third-party asset.
    expected = segno.make("https://truonghoc.example.vn/r/SCH-A", error="q")
    svg = re.search(r"<svg.*?</svg>", poster, flags=re.S).group(0)
    assert svg == expected.svg_inline(
        scale=1, dark="#000", light="#fff", omitsize=True, svgclass="poster-qr"
    )
    # The CSP allows no style attribute and no outside source.
    assert " style=" not in html and "<img" not in poster
    assert "style-src 'self'" in r.headers["Content-Security-Policy"]
    # Printing changes nothing: no event.
    assert db.scalar(select(func.count()).select_from(AuditEvent)) == events


def test_without_a_configured_base_url_the_address_the_page_was_reached_by(app, db, world):
    html = _get(app, db, world, "focal_a").get_data(as_text=True)
    assert "http://localhost/r/SCH-A" in html
    assert "127.0.0.1:5000" not in html


@pytest.mark.parametrize(
    ("who", "code", "status"),
    [
        ("focal_a", "SCH-A", 200),
        ("officer_d1", "SCH-A", 200),
        ("officer_p", "SCH-C", 200),
        ("admin_d1", "SCH-B", 200),
        ("focal_b", "SCH-A", 404),  # another school
        ("officer_d2", "SCH-A", 404),  # another commune
        ("admin_d2", "SCH-A", 404),
        ("officer_d1", "D1", 404),  # an office has no poster
        ("officer_p", "PRV", 404),
        ("officer_p", "NO-SUCH", 404),
        ("auditor_p", "SCH-A", 404),  # auditors print no posters
        ("nobody", "SCH-A", 404),
    ],
)
def test_who_prints_which_poster(app, db, world, who, code, status):
    assert _get(app, db, world, who, code).status_code == status


def test_the_unit_page_and_the_focal_points_home_link_to_it(app, db, world):
    school = Visitor(app, db, world["admin_d1"], lang="en").get(
        f"/admin/units/{world.units['SCH-A']}"
    )
    assert 'href="/admin/units/SCH-A/poster"' in school.get_data(as_text=True)
    office = Visitor(app, db, world["admin_d1"], lang="en").get(f"/admin/units/{world.units['D1']}")
    assert "/poster" not in office.get_data(as_text=True)
    work = Visitor(app, db, world["focal_a"], lang="en").get("/work")
    html = work.get_data(as_text=True)
    assert 'href="/admin/units/SCH-A/poster"' in html
    assert "/admin/units/SCH-B/poster" not in html
