"""Statements built once and kept, for what every signed-in page or daily screen runs.

Building a select() with SQLAlchemy (scoped subqueries, coercions, loader options, then its
cache key at execution) costs Python time that does not depend on the data: 0.4 ms for the
sign-in session's statement, about 2 ms for my work's lists, 1.3 ms for the menu's numbers,
often more than running them. A kept statement is built once per key and run again.

The rule that keeps this safe: **the key holds everything the builder reads in Python** (the
person's id, their grants and the units' places in the tree, the cases they are excluded from
as their sign-in session read them, the units listed, the day, a setting), and nothing that the
database must judge at each run (statuses, moments, the present: those stay in the SQL). Then
a kept statement is the one that would be built now, and a grant revoked, a unit moved, an
exclusion added or lifted or a new day makes another key, never a stale answer. Each use has a
test that compares its kept statement with one built again after the world changed.

Each store is a bounded LRU per process (``KeptStatements(KEPT)``): the people signed in
lately. Measured: a kept entry of the case list (its count and page, run once) holds 32 KB, so
6 MB for a full store; the eight stores together (estimated from it) some 30-40 MB a worker
with 200 people or more active on it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Generic, TypeVar

from caseapp.security.authz import effective_grants

if TYPE_CHECKING:
    from caseapp.models import User

T = TypeVar("T")

# Entries per store: the people signed in lately on one worker (each store keeps one or a few
# entries a person).
KEPT = 200


class KeptStatements(Generic[T]):
    """At most ``size`` statements (or tuples of them) by key, the least recently used
    forgotten first. Safe across threads: two threads building the same key keep one."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._kept: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        """The statement kept for ``key``, built by ``build()`` (outside the lock) if none is."""
        with self._lock:
            found = self._kept.get(key)
            if found is not None:
                self._kept.move_to_end(key)
                return found
        built = build()
        with self._lock:
            # Another thread may have built the same one meanwhile: either serves.
            found = self._kept.setdefault(key, built)
            self._kept.move_to_end(key)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return found

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()

    def __len__(self) -> int:
        return len(self._kept)


def _grants(user: User) -> tuple:
    return tuple(sorted((g.role, g.unit_id, g.unit.path) for g in effective_grants(user)))


def person_key(user: User) -> tuple:
    """What a scoped statement reads of ``user``: their id (notices), the grants they may act
    on, each with its unit's place in the tree (a unit moved moves the scope), and the cases
    they are excluded from as their sign-in session read them (``User.excluded_case_ids``,
    which services.cases.access writes into the statements; None when not read so)."""
    return (user.id, _grants(user), user.excluded_case_ids)


def viewer_key(user: User) -> tuple:
    """What a statement that reads ``user`` only through their scope and their exclusions
    (services.cases.access.visible_cases, visible_steps) reads of them: their grants, with the
    cases they are excluded from when their sign-in session read them, else their id (the
    statement then asks the database for their exclusions by id). People of the same grants
    and exclusions (a school's focal points, an office's officers: most have none) share such
    a statement, and PostgreSQL the plan of its text (prepared_statements), where each person
    had their own."""
    known = user.excluded_case_ids
    return (_grants(user), ("excluded", known) if known is not None else ("person", user.id))


def units_key(units) -> tuple | str:
    """The units of a scope as services.cases.access.scope_unit_ids gives them: their ids, or
    (past its UNIT_LIST_MAX) the select() of them, which the SQL reads at each run and which
    the person's grants (person_key, viewer_key) determine."""
    return tuple(units) if isinstance(units, list) else "in scope"
