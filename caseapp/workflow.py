"""The case workflow in one place: states, who may move a case where, and what must be done
first. Pure rules; services/workflow.py applies them."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

HANDLER = "handler"  # a focal point of the case's school
OFFICER = "officer"  # an officer above the school


@dataclass(frozen=True)
class Facts:
    """What the steps of a case say, for the rules below."""

    verification_done: bool = False
    finding: str | None = None
    support_provided: bool = False
    follow_up_scheduled: bool = False
    follow_up_done: bool = False
    requested_by_id: int | None = None


@dataclass(frozen=True)
class Transition:
    source: str
    target: str
    who: tuple[str, ...]
    label: object


TRANSITIONS = (
    Transition("new", "verifying", (HANDLER,), _l("Start verification")),
    Transition("verifying", "supporting", (HANDLER,), _l("Verification finished: support")),
    Transition(
        "verifying", "closure_requested", (HANDLER,), _l("Not substantiated: request closure")
    ),
    Transition("supporting", "monitoring", (HANDLER,), _l("Support provided: monitor")),
    Transition("supporting", "closure_requested", (HANDLER,), _l("Request closure")),
    Transition("monitoring", "closure_requested", (HANDLER,), _l("Request closure")),
    Transition("closure_requested", "closed", (OFFICER,), _l("Approve closure")),
    Transition("closure_requested", "monitoring", (OFFICER,), _l("Return for more follow-up")),
    Transition("closed", "reopened", (OFFICER,), _l("Reopen")),
    Transition("reopened", "verifying", (HANDLER, OFFICER), _l("Verify again")),
    Transition("reopened", "supporting", (HANDLER, OFFICER), _l("Resume support")),
)


def find(source: str, target: str) -> Transition | None:
    return next((t for t in TRANSITIONS if t.source == source and t.target == target), None)


def blocker(t: Transition, facts: Facts, roles: set[str], actor_id: int) -> object | None:
    """Why ``t`` is not allowed now (a translatable message), or None when it is."""
    if not roles & set(t.who):
        return (
            _l("Only an officer above the school can do this.")
            if t.who == (OFFICER,)
            else _l("Only the school's focal point can do this.")
        )
    if t.source == "verifying" and not facts.verification_done:
        return _l("Finish a verification (method and finding) first.")
    if (
        t.source == "verifying"
        and t.target == "closure_requested"
        and facts.finding != "not_substantiated"
    ):
        return _l("Only a case found not substantiated closes straight after verification.")
    if t.target == "monitoring" and t.source == "supporting":
        if not facts.support_provided:
            return _l("Record a support that was provided to each person harmed first.")
        if not facts.follow_up_scheduled:
            return _l("Schedule a follow-up of each person harmed first.")
    if (
        t.target == "closure_requested"
        and t.source in ("supporting", "monitoring")
        and not facts.follow_up_done
        and facts.finding != "not_substantiated"
    ):
        return _l("Record a follow-up that was done for each person harmed first.")
    if (
        t.source == "closure_requested"
        and t.target == "closed"
        and facts.requested_by_id == actor_id
    ):
        return _l("Closure is approved by another person than the one who requested it.")
    return None


def options(status: str, facts: Facts, roles: set[str], actor_id: int) -> list[tuple]:
    """(transition, blocker or None) for every way out of ``status``."""
    return [(t, blocker(t, facts, roles, actor_id)) for t in TRANSITIONS if t.source == status]
