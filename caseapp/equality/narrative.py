"""(placeholder until its part of issue 13 lands)"""

from caseapp.equality import bp  # noqa: F401
