"""Home page, health check and language choice."""

from flask import Blueprint

bp = Blueprint("main", __name__)

# The route modules register their views on bp (they import it from here).
from caseapp.main import views
