"""Auditor screens: the audit trail within the auditor's units, chain status, CSV export."""

from flask import Blueprint

bp = Blueprint("audit", __name__, url_prefix="/audit")

# The route modules register their views on bp (they import it from here).
from caseapp.audit import views
