"""Sign-in, second factor, enrolment and sign-out."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

# The route modules register their views on bp (they import it from here).
from caseapp.auth import views
