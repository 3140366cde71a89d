"""The one unit lookup in scope, the one subtree filter, and carry_out keeping a counted refusal."""

from __future__ import annotations

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from caseapp.errors import Conflict, ValidationFailed
from caseapp.form_submit import carry_out
from caseapp.models import Unit, User
from caseapp.security.authz import scope_filter
from caseapp.services.org.units import unit_in_scope, update_unit


def _user(db, world, name) -> User:
    return db.get(User, world[name].id)


@pytest.mark.parametrize(
    ("person", "code", "permission"),
    [
        ("admin_d1", "SCH-A", "admin.users"),
        ("admin_d1", " sch-b ", "admin.units"),
        ("officer_p", "D2", "case.oversee"),
        ("focal_a", "SCH-A", "activity.write"),
    ],
)
def test_a_unit_within_the_persons_units_is_found(db, world, person, code, permission):
    unit = unit_in_scope(db, _user(db, world, person), code, permission)
    assert unit.code == code.strip().upper()


@pytest.mark.parametrize(
    ("person", "code", "permission"),
    [
        ("admin_d1", "SCH-C", "admin.users"),  # another district
        ("admin_d1", "PRV", "admin.units"),  # above the administrator
        ("focal_a", "SCH-A", "admin.units"),  # a permission the person does not hold
        ("admin_d1", "NOPE", "admin.units"),  # no such unit
        ("admin_d1", "SCH\x00A", "admin.units"),  # PostgreSQL refuses a NUL in a parameter
        ("admin_d1", "", "admin.units"),
        ("admin_d1", None, "admin.units"),
    ],
)
def test_any_other_code_gets_one_form_error(db, world, person, code, permission):
    with pytest.raises(ValidationFailed) as refused, force_locale("en"):
        unit_in_scope(db, _user(db, world, person), code, permission)
    assert refused.value.message.startswith("No unit with the code")


@pytest.mark.parametrize(
    ("person", "permission", "codes"),
    [
        ("admin_d1", "admin.units", {"D1", "SCH-A", "SCH-B"}),
        ("admin_p", "admin.units", {"PRV", "D1", "D2", "SCH-A", "SCH-B", "SCH-C"}),
        ("officer_d2", "case.oversee", {"D2", "SCH-C"}),
        ("auditor_p", "case.read", set()),  # deny by default
        ("nobody", "report.read", set()),
    ],
)
def test_the_subtree_filter_keeps_the_units_below_the_persons_grants(
    db, world, person, permission, codes
):
    found = set(
        db.scalars(
            select(Unit.code).where(scope_filter(_user(db, world, person), permission, Unit.path))
        )
    )
    assert found == codes


def test_carry_out_rolls_a_refusal_back(db, world):
    unit = db.get(Unit, world.units["SCH-A"])
    name = unit.name

    def refused():
        unit.name = "Đổi tên"
        db.flush()
        raise Conflict("no")

    outcome = carry_out(refused)
    assert (outcome.ok, outcome.status) == (False, 409)
    assert db.get(Unit, unit.id).name == name


def test_carry_out_keeps_what_a_kept_refusal_wrote(db, world):
    unit = db.get(Unit, world.units["SCH-A"])

    class Counted(ValidationFailed):
        """A refusal whose service counted something that must stay (a failed attempt)."""

    def refused():
        update_unit(db, None, unit, "Đếm lần sai", unit.kind, unit.version)  # audited
        raise Counted("wrong")

    outcome = carry_out(refused, keep=(Counted,))
    assert (outcome.ok, outcome.message) == (False, "wrong")
    db.expire_all()
    assert db.get(Unit, unit.id).name == "Đếm lần sai"


def test_read_or_refuse_neither_commits_nor_rolls_back(db, world):
    """A read that may be refused (monitoring's unit asked for): its value or its refusal,
    and the transaction left as it was (what it holds stays pending, not committed, not
    rolled back)."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from caseapp.form_submit import read_or_refuse

    ended: list[str] = []

    def seen(name):
        return lambda *_args: ended.append(name)

    focal = _user(db, world, "focal_a")
    listeners = [(name, seen(name)) for name in ("after_commit", "after_rollback")]
    for name, listener in listeners:
        event.listen(Session, name, listener)
    try:
        found = read_or_refuse(lambda: unit_in_scope(db, focal, "SCH-A", "case.read"))
        refused = read_or_refuse(lambda: unit_in_scope(db, focal, "SCH-C", "case.read"))
    finally:
        for name, listener in listeners:
            event.remove(Session, name, listener)
    assert found.ok and found.value.code == "SCH-A"
    assert not refused.ok and refused.value is None and refused.message
    assert ended == []
