"""Races between requests, on PostgreSQL where requests really run at once (SQLite has one
writer). Each request commits for real, so every test works on accounts and cases of its own.

- Two exclusions of one case at the same moment cannot together leave it with no officer.
- An administrative grant and the approval of an auditor grant to one account at the same
  moment cannot make it both administrator and auditor; two approvals of one request at the
  same moment grant it once (the second is a 409).
- A second-factor sign-in while the password is changed (or locked by wrong guesses) elsewhere
  ends cleanly (409 or back to sign-in), never in a deadlock or a 500.
- A school's statistics or text saved while its report is submitted waits and is refused.
- A step finished while its case's status changes waits for it, never a deadlock.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from caseapp.db import get_session, utcnow
from caseapp.models import CaseExclusion, Grant, Unit, User, UserSession
from caseapp.runtime import keyring
from caseapp.security import passwords
from caseapp.services.accounts import users
from caseapp.services.cases.intake import CaseContent, create_case
from tests.factories import (
    PASSWORD,
    TOKEN_PAGE,
    csrf_from,
    make_unit,
    make_user,
    next_code,
    sign_in_client,
)
from tests.functional.case_attack_support import case_details

NEW_PASSWORD = "một mật khẩu mới rất dài 2026!"


@pytest.fixture(autouse=True)
def _postgres_only(database):
    if database.dialect != "postgresql":
        pytest.skip("SQLite serialises every writer; these races need PostgreSQL")


@dataclass
class Tree:
    """A unit tree of its own (province > district > school) with a focal point, an officer at
    each level and an administrator: committed rows that no other test counts."""

    school: str
    focal: object
    officer_district: object
    officer_province: object
    admin: object
    ip: str
    tag: str


@pytest.fixture()
def tree(app) -> Tree:
    tag = secrets.token_hex(3).upper()
    with app.app_context():
        session = get_session()
        province = make_unit(session, None, f"R{tag}", "province")
        district = make_unit(session, province, f"R{tag}-D", "commune")
        school = make_unit(session, district, f"R{tag}-S", "school")
        people = [
            make_user(session, keyring(), f"{name}.{tag.lower()}", unit, [(role, unit)])
            for name, role, unit in (
                ("focal", "focal_point", school),
                ("officer-d", "officer", district),
                ("officer-p", "officer", province),
                ("admin", "admin", province),
            )
        ]
        session.commit()
    octets = [int(tag[i : i + 2], 16) for i in (0, 2, 4)]
    return Tree(school.code, *people, ip="10.{}.{}.{}".format(*octets), tag=tag.lower())


def _client(app, person_id, ip: str, second_factor=True):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip  # failures counted on an address of its own
    with app.app_context():
        session = get_session()
        sign_in_client(client, session, person_id, second_factor)
        session.commit()
    return client, csrf_from(
        client.get(TOKEN_PAGE if second_factor else "/login/2fa").get_data(as_text=True)
    )


def _at_once(*calls) -> None:
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(timeout=30)
        call()

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _tree_case(session, tree: Tree):
    """A new case of the tree's school, by its focal point (not committed)."""
    focal = session.get(User, tree.focal.id)
    school = session.scalar(select(Unit).where(Unit.code == tree.school))
    return create_case(session, focal, school, case_details(), CaseContent(harmed_name="X"))


def _post(client, url: str, data: dict, results: dict, key: str):
    """A call posting ``data`` to ``url``, keeping the status under ``key``."""

    def go():
        results[key] = client.post(url, data=data).status_code

    return go


def test_two_exclusions_at_once_leave_an_officer(app, tree):
    for _attempt in range(5):
        with app.app_context():
            session = get_session()
            case = _tree_case(session, tree)
            session.commit()
            public_id, case_id = case.public_id, case.id
        (c1, t1), (c2, t2) = (_client(app, tree.focal.id, tree.ip) for _ in range(2))
        results: dict = {}
        url = f"/cases/{public_id}/exclusions"
        people = (tree.officer_district, tree.officer_province)
        _at_once(
            *(
                _post(
                    client,
                    url,
                    {"csrf_token": token, "person": str(person.id), "reason": "Người thân"},
                    results,
                    person.username,
                )
                for client, token, person in ((c1, t1, people[0]), (c2, t2, people[1]))
            )
        )
        assert set(results.values()) == {302}
        with app.app_context():
            excluded = set(
                get_session().scalars(
                    select(CaseExclusion.user_id).where(CaseExclusion.case_id == case_id)
                )
            )
        assert len(excluded) == 1, "one officer must still oversee the case"


def _asked(app, tree, username: str, role: str) -> tuple[int, int, int]:
    """A fresh account at the tree's school and a pending request (by the tree's administrator)
    to grant it ``role`` there: (person id, request id, request version)."""
    from caseapp.services.accounts import approvals

    with app.app_context():
        session = get_session()
        school = session.scalar(select(Unit).where(Unit.code == tree.school))
        person = make_user(session, keyring(), username, school, [])
        session.commit()
        asker, subject = session.get(User, tree.admin.id), session.get(User, person.id)
        req = approvals.request_grant(session, asker, subject, role, school, "race")
        session.commit()
        return person.id, req.id, req.version


def _roles(app, person_id: int) -> list[str]:
    with app.app_context():
        return list(
            get_session().scalars(
                select(Grant.role).where(Grant.user_id == person_id, Grant.revoked_at.is_(None))
            )
        )


def test_an_admin_grant_and_a_content_grant_approved_at_once_never_join(app, tree):
    """Two requests about one account, `admin` and `focal_point` (every grant waits for a
    second person), approved at once by the two officers above (the approvers of a
    single-administrator tree): one of the two wins, the other is refused by the separation of
    duties."""
    from caseapp.services.accounts import approvals

    for attempt in range(5):
        person_id, admin_req, admin_version = _asked(
            app, tree, f"sep.{tree.tag}.{attempt}", "admin"
        )
        with app.app_context():
            session = get_session()
            school = session.scalar(select(Unit).where(Unit.code == tree.school))
            asker, subject = session.get(User, tree.admin.id), session.get(User, person_id)
            req = approvals.request_grant(session, asker, subject, "focal_point", school, "race")
            session.commit()
            content_req, content_version = req.id, req.version
        officer_d, token_d = _client(app, tree.officer_district.id, tree.ip)
        officer_p, token_p = _client(app, tree.officer_province.id, tree.ip)
        results: dict = {}
        _at_once(
            _post(
                officer_d,
                f"/admin/approvals/{admin_req}/approve",
                {"csrf_token": token_d, "version": str(admin_version)},
                results,
                "admin",
            ),
            _post(
                officer_p,
                f"/admin/approvals/{content_req}/approve",
                {"csrf_token": token_p, "version": str(content_version)},
                results,
                "focal_point",
            ),
        )
        roles = _roles(app, person_id)
        assert len(roles) == 1 and sorted(results.values()) == [302, 400], (results, roles)
        with app.app_context():  # an administrator of the school now: out of the next attempt
            session = get_session()
            users.set_active(session, None, session.get(User, person_id), False, "race over")
            session.commit()


def test_two_approvals_at_once_grant_once(app, tree):
    for attempt in range(5):
        person_id, req_id, version = _asked(app, tree, f"twice.{tree.tag}.{attempt}", "focal_point")
        clients = [
            _client(app, who.id, tree.ip) for who in (tree.officer_district, tree.officer_province)
        ]
        results: dict = {}
        _at_once(
            *(
                _post(
                    client,
                    f"/admin/approvals/{req_id}/approve",
                    {"csrf_token": token, "version": str(version)},
                    results,
                    str(n),
                )
                for n, (client, token) in enumerate(clients)
            )
        )
        assert sorted(results.values()) == [302, 409], results
        assert _roles(app, person_id) == ["focal_point"]


@pytest.mark.parametrize(
    "current",
    [PASSWORD, "wrong wrong wrong 1"],
    ids=["password_changed", "locked_by_wrong_guesses"],
)
def test_a_sign_in_finishing_while_the_password_changes_ends_cleanly(
    app, tree, monkeypatch, settings, current
):
    person = tree.focal
    laptop, t_laptop = _client(app, person.id, tree.ip)
    form = {
        "csrf_token": t_laptop,
        "current": current,
        "new": NEW_PASSWORD,
        "confirm": NEW_PASSWORD,
    }
    if current != PASSWORD:  # one failure short of the lock that ends every session
        for _ in range(settings.throttle_account_failures - 1):
            assert laptop.post("/account/password", data=form).status_code == 400
    phone, t_phone = _client(app, person.id, tree.ip, second_factor=False)
    with app.app_context():  # the phone's session is due a "last seen" update
        session = get_session()
        session.execute(
            update(UserSession)
            .where(UserSession.user_id == person.id, UserSession.second_factor_at.is_(None))
            .values(last_seen_at=utcnow() - timedelta(seconds=120))
        )
        session.commit()
    original = passwords.verify_password

    def slow_verify(*args, **kwargs):  # argon2's cost, made long enough to overlap
        time.sleep(0.8)
        return original(*args, **kwargs)

    monkeypatch.setattr(passwords, "verify_password", slow_verify)
    results = {}

    def change():
        results["change"] = laptop.post("/account/password", data=form).status_code

    def second_factor():
        time.sleep(0.3)
        results["code"] = phone.post(
            "/login/2fa", data={"csrf_token": t_phone, "code": next_code(person.totp_secret)}
        ).status_code

    _at_once(change, second_factor)
    assert 500 not in results.values(), results
    assert results["change"] in (302, 400) and results["code"] in (302, 303, 409), results


def test_a_grant_at_a_unit_being_closed_waits_and_is_refused(app, tree):
    """Closing a commune and granting a role at it at the same moment: the grant waits for
    the close (the unit's row is held) and is then refused; no role survives at a closed
    unit."""
    from caseapp.clock import local_today
    from caseapp.errors import ValidationFailed
    from caseapp.services.org.units import close_unit, unit_by_code

    with app.app_context():
        session = get_session()
        province = unit_by_code(session, f"R{tree.tag.upper()}")
        commune = make_unit(session, province, f"R{tree.tag.upper()}-X", "commune")
        person = make_user(session, keyring(), f"late.{tree.tag}", province)
        session.commit()
        commune_id, person_id = commune.id, person.id
    closing = threading.Event()
    outcome: dict[str, object] = {}

    def grant():
        closing.wait(5)
        with app.app_context():
            session = get_session()
            user = session.get(User, person_id)
            try:
                users.grant_role(session, None, user, "officer", session.get(Unit, commune_id))
                session.commit()
                outcome["grant"] = "granted"
            except ValidationFailed:
                session.rollback()
                outcome["grant"] = "refused"

    worker = threading.Thread(target=grant)
    worker.start()
    with app.app_context():
        session = get_session()
        unit = session.get(Unit, commune_id)
        close_unit(session, None, unit, local_today(), unit.version)
        closing.set()
        time.sleep(0.5)  # the grant is now waiting for the unit's row
        session.commit()
    worker.join(10)
    assert outcome == {"grant": "refused"}
    with app.app_context():
        session = get_session()
        held = session.scalars(
            select(Grant).where(Grant.unit_id == commune_id, Grant.revoked_at.is_(None))
        ).all()
        assert held == []


def test_two_breaches_recorded_at_once_draw_two_references(app, tree):
    from caseapp.models.privacy import Breach

    district = tree.school.rsplit("-", 1)[0] + "-D"
    form = {
        "unit_code": district,
        "discovered_at": "27/11/2026 20:00",
        "discovered_by": "Cán bộ CNTT",
        "description": "Mất máy tính xách tay.",
        "data_categories": "identity",
    }
    clients = [
        _client(app, who.id, tree.ip) for who in (tree.officer_district, tree.officer_province)
    ]
    results: dict = {}
    _at_once(
        *(
            _post(client, "/privacy/breaches/new", {**form, "csrf_token": token}, results, str(n))
            for n, (client, token) in enumerate(clients)
        )
    )
    assert sorted(results.values()) == [302, 302], results
    with app.app_context():
        references = list(
            get_session().scalars(
                select(Breach.reference).where(Breach.unit.has(Unit.code == district))
            )
        )
    assert len(references) == 2 and len(set(references)) == 2, references


def test_a_step_added_while_the_day_received_is_corrected_gets_the_corrected_day(app, tree):
    """Each step keeps a copy of its case's day received ("due today" is ordered by it): a
    step added while another request corrects that day holds the case's row from its first
    write (step_copies), so the correction waits for it and then updates its copy too, even
    when the correction is written before its audit event (whose wait for the chain would
    otherwise come after its update of the steps, which cannot see a step not yet committed).
    Today the school's tallies and the audit chain make such writers wait for each other as
    well; the hold does not depend on them."""
    from datetime import date

    from caseapp.clock import local_today
    from caseapp.models import Case, CaseStep
    from caseapp.services.audit import trail
    from caseapp.services.cases import steps as step_service
    from caseapp.services.cases.steps import StepInput

    with app.app_context():
        session = get_session()
        case = _tree_case(session, tree)
        session.commit()
        case_id = case.id
    corrected = local_today() - timedelta(days=3)
    adding = threading.Event()
    outcome: dict[str, object] = {}

    def correct():
        adding.wait(5)
        with app.app_context():
            session = get_session()
            record = session.get(Case, case_id)
            record.received_on = corrected
            session.flush()  # written before its event, as an autoflush would
            trail.record(session, None, "case.update", record, reason="test: day corrected")
            session.commit()
            outcome["corrected"] = time.monotonic()

    worker = threading.Thread(target=correct)
    worker.start()
    with app.app_context():
        session = get_session()
        focal = session.get(User, tree.focal.id)
        record = session.get(Case, case_id)
        step_service.add_step(
            session, focal, record, StepInput(kind="follow_up", due_on=local_today())
        )
        session.flush()
        adding.set()
        time.sleep(0.5)  # the correction is now waiting for the case's row
        committed = time.monotonic()
        session.commit()
    worker.join(10)
    assert outcome["corrected"] > committed  # it waited
    with app.app_context():
        session = get_session()
        days: set[date] = set(
            session.scalars(select(CaseStep.received_on).where(CaseStep.case_id == case_id))
        )
        assert session.get(Case, case_id).received_on == corrected
        assert days == {corrected}


def test_a_step_finished_while_the_status_changes_waits_instead_of_deadlocking(app, tree):
    """A change of a case's status updates the copies on all its steps after the case's row
    (step_copies), and a step finished that moves the case's moment updates the case's row
    after the step's (cases.clocks): each would hold what the other waits for. The step's
    flush locks its case first, so the status change waits for it (or it for the status
    change), both commit, and every step carries the status and moment of the end."""
    from sqlalchemy import event

    from caseapp.clock import local_today
    from caseapp.models import Case, CaseStep
    from caseapp.services.audit import trail

    today = local_today()
    with app.app_context():
        session = get_session()
        case = _tree_case(session, tree)
        session.flush()
        case.status = "supporting"
        late = [
            CaseStep(uid=secrets.token_hex(8), case_id=case.id, kind="support", due_on=due)
            for due in (today - timedelta(days=3), today - timedelta(days=1))
        ]
        session.add_all(late)
        trail.record(session, None, "case.update", case, reason="test", covers=tuple(late))
        session.commit()
        case_id, first_id = case.id, late[0].id
    finishing = threading.Event()
    outcome: dict[str, object] = {}
    engine = app.extensions["caseapp.engine"]
    owner = threading.get_ident()

    def hold_after_the_step(_conn, _cursor, statement, *_args) -> None:
        # The finishing request, once its step is written: let the status change run now.
        if threading.get_ident() == owner and statement.startswith("UPDATE case_steps SET done_on"):
            finishing.set()
            time.sleep(1.0)

    def change_status():
        finishing.wait(10)
        try:
            with app.app_context():
                session = get_session()
                record = session.get(Case, case_id)
                record.status = "monitoring"
                trail.record(session, None, "case.update", record, reason="test: status")
                session.commit()
            outcome["status"] = "ok"
        except Exception as error:  # noqa: BLE001 - the outcome is what the test asserts
            outcome["status"] = repr(error)

    worker = threading.Thread(target=change_status)
    worker.start()
    event.listen(engine, "after_cursor_execute", hold_after_the_step)
    try:
        with app.app_context():
            session = get_session()
            step = session.get(CaseStep, first_id)
            step.done_on = today
            step.status = "provided"
            trail.record(session, None, "case.update", session.get(Case, case_id), covers=(step,))
            session.commit()
        outcome["step"] = "ok"
    except Exception as error:  # noqa: BLE001
        outcome["step"] = repr(error)
    finally:
        event.remove(engine, "after_cursor_execute", hold_after_the_step)
        worker.join(20)
    assert outcome == {"step": "ok", "status": "ok"}, outcome
    with app.app_context():
        session = get_session()
        case = session.get(Case, case_id)
        copies = set(
            session.execute(
                select(CaseStep.case_status, CaseStep.case_overdue_after).where(
                    CaseStep.case_id == case_id
                )
            )
        )
        assert case.status == "monitoring"
        assert copies == {(case.status, case.overdue_after)}
        # Committed for real: closed, so that no other test counts an overdue case of it.
        case.status = "closed"
        trail.record(session, None, "case.update", case, reason="test: closed")
        session.commit()
        assert session.get(Case, case_id).overdue_after is None
