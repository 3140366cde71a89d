"""The numbers beside the menu's links (self-reports waiting, unread notices, approvals
waiting), read together: each page shows them, and one statement costs one round trip and
one ORM execution instead of three. Each count is the statement its own service runs, so
the scope and exclusion rules are theirs."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from caseapp.models import ApprovalRequest, User
from caseapp.services.accounts import approvals
from caseapp.services.cases.notifications import unread_count_query
from caseapp.services.selfreports import inbox


@dataclass
class MenuCounts:
    unread_notices: int = 0
    selfreports: inbox.Waiting = field(default_factory=inbox.Waiting)
    approvals: int = 0


def menu_counts(
    session: Session, user: User, with_selfreports: bool, with_approvals: bool
) -> MenuCounts:
    """The counts of the menu of ``user``: unread notices always; the self-reports waiting and
    the approvals waiting only when asked (the links the person sees), zero otherwise."""
    columns: list[ColumnElement] = [unread_count_query(user).scalar_subquery().label("unread")]
    waiting = None
    if with_selfreports:
        # An aggregate without GROUP BY: always exactly one row to select from.
        waiting = inbox.waiting_query(user).subquery()
        columns += [waiting.c.total, waiting.c.new, waiting.c.danger]
    if with_approvals:
        # Only whether any candidate exists can be counted in SQL: who may decide a request
        # (approvals.may_decide) is applied in Python, so candidates are read by waiting_count.
        candidates = approvals.pending_in_reach(user).with_only_columns(
            func.count(ApprovalRequest.id)
        )
        columns.append(candidates.scalar_subquery().label("candidates"))
    stmt = select(*columns)
    if waiting is not None:
        stmt = stmt.select_from(waiting)
    row = session.execute(stmt).one()
    counts = MenuCounts(unread_notices=int(row.unread or 0))
    if with_selfreports:
        counts.selfreports = inbox.waiting_from((row.total, row.new, row.danger))
    if with_approvals and row.candidates:
        counts.approvals = approvals.waiting_count(session, user)
    return counts
