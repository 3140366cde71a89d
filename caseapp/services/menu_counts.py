"""The numbers beside the menu's links (self-reports waiting, unread notices, approvals
waiting), read together: each page shows them, and one statement costs one round trip and
one ORM execution instead of three. Each count is the statement its own service runs, so
the scope and exclusion rules are theirs.

The statement is built once per person and scope and kept (``_statements``): building it
(three scoped subqueries) and computing its cache key took 1.3 ms of the 3.5 ms the numbers
cost on every page (bench/cases.py's shell at 10,000 cases); run again, only its execution
is left. It depends on the person only through their id and their grants, both in its key,
and on the time only through ``db.present()``, read at each execution: a grant granted,
revoked or moved with its unit makes another key, and exclusions, notices, reports and
requests are read when it runs. The builders it is made of (notifications.unread_count_query,
inbox.waiting_query, approvals.pending_in_reach) must keep reading nothing else in Python
(no unit ids, no settings): tests/functional/test_menu_counts.py compares a kept statement with
one built again after the units change.

On PostgreSQL the person's values (their id, their units' paths) are written into the
statement's SQL rather than sent as parameters (prepared_statements.written_in), and the
present is the transaction's (``now()``, db.present): the statement then has no parameter
at all, and is planned once per connection instead of on every page (planning it took 0.7 ms
for 0.1 ms of execution). The values are the kept statement's own (its key), so its SQL is
the same at each run."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from caseapp.db import present
from caseapp.kept_statements import KEPT, KeptStatements, person_key
from caseapp.models import ApprovalRequest, User
from caseapp.prepared_statements import written_in
from caseapp.services.accounts import approvals
from caseapp.services.cases.notifications import unread_count_query
from caseapp.services.selfreports import inbox

# Statements kept per process (kept_statements): the people signed in lately; a person past
# them costs the 2.3 ms of a new one. The key is the person's id and grants
# (kept_statements.person_key) and which counts are asked.
_statements: KeptStatements[Select] = KeptStatements(KEPT)


@dataclass
class MenuCounts:
    unread_notices: int = 0
    selfreports: inbox.Waiting = field(default_factory=inbox.Waiting)
    approvals: int = 0


def _statement(user: User, with_selfreports: bool, with_approvals: bool) -> Select:
    columns: list[ColumnElement] = [unread_count_query(user).scalar_subquery().label("unread")]
    waiting = None
    if with_selfreports:
        # An aggregate without GROUP BY: always exactly one row to select from.
        waiting = inbox.waiting_query(user).subquery()
        columns += [waiting.c.total, waiting.c.new, waiting.c.danger]
    if with_approvals:
        # Only whether any candidate exists can be counted in SQL: who may decide a request
        # (approvals.may_decide) is applied in Python, so candidates are read by waiting_count.
        # The present when it runs (requests expire): db.present.
        candidates = approvals.pending_in_reach(user, now=present()).with_only_columns(
            func.count(ApprovalRequest.id)
        )
        columns.append(candidates.scalar_subquery().label("candidates"))
    stmt = select(*columns)
    if waiting is not None:
        stmt = stmt.select_from(waiting)
    return stmt


def _kept_statement(user: User, with_selfreports: bool, with_approvals: bool) -> Select:
    return _statements.get(
        (person_key(user), with_selfreports, with_approvals),
        lambda: _statement(user, with_selfreports, with_approvals),
    )


def menu_counts(
    session: Session, user: User, with_selfreports: bool, with_approvals: bool
) -> MenuCounts:
    """The counts of the menu of ``user``: unread notices always; the self-reports waiting and
    the approvals waiting only when asked (the links the person sees), zero otherwise."""
    stmt = _kept_statement(user, with_selfreports, with_approvals)
    row = session.execute(stmt, execution_options=written_in).one()
    counts = MenuCounts(unread_notices=int(row.unread or 0))
    if with_selfreports:
        counts.selfreports = inbox.waiting_from((row.total, row.new, row.danger))
    if with_approvals and row.candidates:
        counts.approvals = approvals.waiting_count(session, user)
    return counts
