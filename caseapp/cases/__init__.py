"""Case screens: list, intake, details, confidential content, notes, attachments, consent."""

from flask import Blueprint

bp = Blueprint("cases", __name__, url_prefix="/cases")

# The route modules register their views on bp (they import it from here).
from caseapp.cases import (
    access_report,
    hold_views,
    links,
    notice_views,
    people_views,
    records,
    views,
    workflow_views,
)
