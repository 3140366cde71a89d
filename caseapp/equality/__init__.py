"""The gender-equality work of a unit: plan and targets, statistics by sex, the narrative of
the period report, its submission and its document."""

from flask import Blueprint

bp = Blueprint("equality", __name__, url_prefix="/equality")

# The route modules register their views on bp (they import it from here).
from caseapp.equality import document, narrative, plan, statistics  # noqa: E402, F401
