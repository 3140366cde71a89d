"""From a submitted form to a service call: the one place a view commits or rolls back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar, cast

from caseapp.db import get_session
from caseapp.errors import DomainError

T = TypeVar("T")


class Outcome(Generic[T]):
    """What a service call gave: its value, or the refusal to show beside the form."""

    def __init__(self, value: T | None = None, error: DomainError | None = None) -> None:
        self._value = value
        self.error = error

    @property
    def value(self) -> T:
        """The service's value when ``ok``. A refused call has none: this is then None, which
        the type does not say (views test ``ok`` or ``error`` first, or fall back with ``or``)."""
        return cast(T, self._value)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def message(self) -> str:
        return self.error.message if self.error is not None else ""

    @property
    def status(self) -> int:
        """The HTTP status to answer a refused form with (400, or 409 for a conflict)."""
        if self.error is None:
            return 200
        return self.error.status if self.error.status >= 400 else 400


def carry_out(action: Callable[[], T], keep: tuple[type[DomainError], ...] = ()) -> Outcome[T]:
    """Run one service call for a form: commit when it succeeds; when the service refuses (a
    DomainError), roll back and hand the refusal to the view. Nothing is half-saved.
    ``keep``: refusals whose service wrote bookkeeping that must stay (a wrong current password
    counts towards the account's lock); those are committed, not rolled back."""
    db = get_session()
    try:
        value = action()
    except DomainError as exc:
        if isinstance(exc, keep):
            db.commit()
        else:
            db.rollback()
        return Outcome(error=exc)
    db.commit()
    return Outcome(value=value)


def read_or_refuse(action: Callable[[], T]) -> Outcome[T]:
    """Run one service call that only reads but may refuse what was asked (a unit out of
    scope): its value, or the refusal to show, with nothing committed or rolled back (a page
    that only reads keeps its transaction whole: services/cases/access.py)."""
    try:
        return Outcome(value=action())
    except DomainError as exc:
        return Outcome(error=exc)
