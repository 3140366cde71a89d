"""Response headers the outside review checked: one charset in a CSV's Content-Type, and no
cached error under /static/ (a 404 there is no-store like every other page; the files
themselves keep their caching)."""

from __future__ import annotations

import pytest

from tests.factories import Visitor

EXPORT = (
    "/reports/export?unit=D1&period=custom&date_from=2020-01-01&date_to=2020-06-30&format={fmt}"
)


@pytest.mark.parametrize(
    ("who", "url"),
    [
        ("officer_d1", EXPORT.format(fmt="csv")),
        ("auditor_p", "/audit/events.csv"),
    ],
)
def test_a_csv_names_its_charset_once(client, db, world, who, url):
    r = Visitor(client, db, world[who]).get(url)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/csv; charset=utf-8"


@pytest.mark.parametrize("fmt", ["xlsx", "docx"])
def test_office_files_carry_no_charset(client, db, world, fmt):
    r = Visitor(client, db, world["officer_d1"]).get(EXPORT.format(fmt=fmt))
    assert r.status_code == 200
    assert "charset" not in r.headers["Content-Type"]


@pytest.mark.parametrize("path", ["/static/nope.css", "/static/css/nope.css", "/static/..%2f"])
def test_a_missing_static_file_is_not_cached(client, path):
    r = client.get(path)
    assert r.status_code == 404
    assert r.headers["Cache-Control"] == "no-store"


def test_a_static_file_keeps_its_caching(client):
    r = client.get("/static/css/app.css")
    assert r.status_code == 200
    assert "no-store" not in r.headers.get("Cache-Control", "")
