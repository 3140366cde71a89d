"""What an upgraded service may still hold from before issue 11, and why it opens nothing.

- A temporary password an administrator was shown (``must_change_password``): the right
  password no longer signs in; the person is told to ask for a sign-in reset; audited.
- An account holding administration together with a content role (granted before separation
  of duties): it administers, but never opens a case, and is not counted among those who can.
"""

from __future__ import annotations

from sqlalchemy import func, select

from caseapp.models import AuditEvent, Grant, Unit, User, UserSession
from caseapp.runtime import hasher, keyring
from caseapp.security import passwords
from caseapp.security.authz import has_permission
from caseapp.services.audit.trail import record
from caseapp.services.cases.access import people_covering
from caseapp.services.cases.readers import who_can_read
from tests.factories import Visitor, get_user, make_user

TEMPORARY = "Tam-thoi-1234-abcd"


def _sessions(db, user_id: int) -> int:
    return db.scalar(select(func.count()).where(UserSession.user_id == user_id)) or 0


def test_a_temporary_password_an_admin_saw_no_longer_signs_in(app, db, world):
    person = make_user(db, keyring(), "old.temp", db.get(Unit, world.units["SCH-A"]), [])
    user = db.get(User, person.id)
    user.password_hash = passwords.hash_password(hasher(), TEMPORARY)
    user.must_change_password = True
    record(db, None, "auth.password_reset", user, unit=user.unit)
    db.commit()
    before = _sessions(db, user.id)
    head = db.scalar(select(func.max(AuditEvent.seq)))

    visitor = Visitor(app, lang="en", token_from="/login")
    r = visitor.post("/login", {"username": "old.temp", "password": TEMPORARY})
    assert r.status_code == 200
    assert "sign-in reset" in r.get_data(as_text=True)
    db.expire_all()
    assert _sessions(db, user.id) == before  # no session, not even a half one
    refused = db.scalars(
        select(AuditEvent).where(AuditEvent.seq > head, AuditEvent.action == "auth.login_failed")
    ).all()
    assert [e.object_ref for e in refused] == ["old.temp"]
    assert "temporary_password" in refused[0].changes


def test_an_admin_holding_a_content_role_from_before_opens_no_case(app, db, world):
    focal = Visitor(app, db, world["focal_a"])
    case = focal.intake(db, world.units["SCH-A"])
    admin = get_user(db, "admin.d1")
    school = db.get(Unit, world.units["SCH-A"])
    # Granted before the rule existed: written behind the service's back, as old data is.
    old = Grant(user=admin, role="focal_point", unit=school)
    db.add(old)
    record(db, None, "user.grant", old, unit=school, object_ref=admin.username)
    db.flush()
    db.refresh(admin, ["grants"])

    assert has_permission(admin, "admin.users")
    assert not has_permission(admin, "case.read")
    assert admin.id not in {u.id for u in db.scalars(people_covering(case, ("focal_point",)))}
    assert admin.id not in {r.user_id for r in who_can_read(db, get_user(db, "focal.a"), case)}

    visitor = Visitor(app, db, world["admin_d1"])
    assert visitor.get(f"/cases/{case.public_id}").status_code in (403, 404)
    assert visitor.get("/cases/").status_code in (403, 404)
    assert visitor.get("/admin/users").status_code == 200  # still administers
