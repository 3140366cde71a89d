"""Period reports, submissions and activities."""

from flask import Blueprint

bp = Blueprint("reports", __name__, url_prefix="/reports")

# The route modules register their views on bp (they import it from here).
from caseapp.reports import activities, views
