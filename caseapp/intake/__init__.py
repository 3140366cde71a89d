"""The public self-report pages (no account): find one's school, send a report, keep the
receipt, follow the report with its code. No cookie, no session, no third-party anything."""

from flask import Blueprint

bp = Blueprint("intake", __name__, url_prefix="/r")

# The route modules register their views on bp (they import it from here).
from caseapp.intake import views
