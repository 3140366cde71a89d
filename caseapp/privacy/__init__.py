"""Data-protection duties: the register of personal-data breaches."""

from flask import Blueprint

bp = Blueprint("privacy", __name__, url_prefix="/privacy")

# The route modules register their views on bp (they import it from here).
from caseapp.privacy import breaches
