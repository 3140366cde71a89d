"""The signed-in person's own account: password, sessions, recovery codes."""

from flask import Blueprint

bp = Blueprint("account", __name__, url_prefix="/account")

# The route modules register their views on bp (they import it from here).
from caseapp.account import views
