"""Daily screens: my work, monitoring, notifications."""

from flask import Blueprint

bp = Blueprint("dashboard", __name__)

# The route modules register their views on bp (they import it from here).
from caseapp.dashboard import views
