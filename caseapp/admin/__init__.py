"""Administration: units, accounts and grants, the referral directory."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

# The route modules register their views on bp (they import it from here).
from caseapp.admin import approvals, imports, posters, referrals, reform, users, views
