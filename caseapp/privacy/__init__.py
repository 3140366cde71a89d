"""Data protection: the register of personal-data breaches and the processing record."""

from flask import Blueprint

bp = Blueprint("privacy", __name__, url_prefix="/privacy")

# The route modules register their views on bp (they import it from here).
from caseapp.privacy import breaches, record, retention
from caseapp.privacy import requests as subject_requests  # noqa: E402  (issue 15 part 1)
from caseapp.privacy import settings as settings  # holidays and legal periods (issue 15)
