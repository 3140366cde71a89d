"""The school side of self-reports: the reports waiting, a report's page and its decisions."""

from flask import Blueprint

bp = Blueprint("selfreports", __name__, url_prefix="/self-reports")

# The route modules register their views on bp (they import it from here).
from caseapp.selfreports import views  # noqa: E402,F401
