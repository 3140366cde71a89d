"""Data protection: requests from data subjects, breaches, retention and the processing
record (issue 15)."""

from flask import Blueprint

bp = Blueprint("privacy", __name__, url_prefix="/privacy")

# The route modules register their views on bp (they import it from here).
from caseapp.privacy import record  # noqa: E402, F401
