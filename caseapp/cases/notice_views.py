"""The notice to a person about what is recorded and why (services.privacy.notices): the
current version to print and hand over, and every older version a consent was given under."""

from __future__ import annotations

from flask import render_template

from caseapp.access import permission
from caseapp.cases import bp
from caseapp.services.privacy import notices


@bp.get("/notice")
@permission("signed_in")
def notice():
    return _page(notices.NOTICE_VERSION)


@bp.get("/notice/<notice_version>")
@permission("signed_in")
def notice_version(notice_version: str):
    return _page(notice_version)


def _page(version: str):
    return render_template(
        "cases/notice.html",
        sections=notices.notice(version),  # NotFound (404) for a version never shown
        version=version,
        current=version == notices.NOTICE_VERSION,
        current_version=notices.NOTICE_VERSION,
    )
