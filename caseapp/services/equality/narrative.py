"""(placeholder until its part of issue 13 lands)"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from caseapp.models import Unit
    from caseapp.services.equality.work import WorkReport
    from caseapp.services.reports.periods import Period


def fill(session: Session, unit: Unit, period: Period, report: WorkReport) -> None:
    """Set this part's fields of report."""
