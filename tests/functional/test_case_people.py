"""People of a case: several persons harmed and alleged perpetrators, recorded and shown; each
person harmed needs their own consent, support and follow-up; a withdrawn person stays (never
deleted, audited); repeat alerts per person; and the attacks: another school's case, a stale
form, a person of another case."""

from __future__ import annotations

from sqlalchemy import func, select

from caseapp.clock import local_today
from caseapp.models import AuditEvent, Case, CaseNameIndex, CasePerson, CaseStep, Unit
from caseapp.services.cases import content as case_content
from caseapp.services.cases import people
from caseapp.services.cases import records as case_records
from tests.factories import Visitor, reason_of
from tests.functional.case_attack_support import actions_after, audit_head, form_fields

GIRL_2 = {
    "sex": "female",
    "age_band": "11-14",
    "age_years": "13",
    "child": "y",
    "role": "pupil",
    "grade": "7",
    "disability": "no",
    "ethnic_minority": "yes",
    "name": "Hoàng Thị Lan",
    "contact": "Lớp 7A2",
}
BOY = {
    "sex": "male",
    "age_band": "11-14",
    "age_years": "12",
    "child": "y",
    "role": "pupil",
    "grade": "6",
    "disability": "unknown",
    "ethnic_minority": "no",
    "name": "Vũ Minh Khoa",
}


def _add(visitor: Visitor, db, case: Case, position: str, answers: dict):
    db.expire_all()
    current = db.get(Case, case.id)
    url = f"/cases/{case.public_id}/persons/new?position={position}"
    return visitor.post(url, {"version": str(current.version), **answers})


def _three_harmed(app, db, world) -> tuple[Visitor, Case]:
    focal = Visitor(app, db, world["focal_a"], lang="en")
    case = focal.intake(db, world.units["SCH-A"])  # a girl of 12 harmed
    assert _add(focal, db, case, "harmed", GIRL_2).status_code == 302
    assert _add(focal, db, case, "harmed", BOY).status_code == 302
    db.expire_all()
    return focal, db.get(Case, case.id)


def test_two_girls_and_a_boy_harmed_are_recorded_and_shown(app, db, world):
    focal, case = _three_harmed(app, db, world)
    harmed = case.harmed_people
    assert [(p.ordinal, p.sex, p.grade) for p in harmed] == [
        (1, "female", None),
        (2, "female", 7),
        (3, "male", 6),
    ]
    assert case.harmed_sex_group == "mixed" and case.child
    assert len(case.perpetrators) == 1
    # Each name has its own blind-index row, for its own person.
    rows = db.scalars(select(CaseNameIndex).where(CaseNameIndex.case_id == case.id)).all()
    assert {r.person_id for r in rows if r.role == "harmed"} == {p.id for p in harmed}
    page = focal.get(f"/cases/{case.public_id}").get_data(as_text=True)
    for label in ("Person harmed 1", "Person harmed 2", "Person harmed 3", "Alleged perpetrator 1"):
        assert label in page
    assert "Mixed (several sexes)" in page
    assert "Hoàng Thị Lan" not in page  # names only on the confidential page
    opened = focal.get(f"/cases/{case.public_id}/confidential").get_data(as_text=True)
    assert "Hoàng Thị Lan" in opened and "Vũ Minh Khoa" in opened and "Lớp 7A2" in opened


def test_each_person_harmed_needs_consent_support_and_follow_up(app, db, world):
    focal, case = _three_harmed(app, db, world)
    base, today = f"/cases/{case.public_id}", local_today().isoformat()
    first, second, third = (p.uid for p in case.harmed_people)
    # One person's consent is not the case's.
    for party in ("person_harmed", "guardian"):
        focal.post(
            f"{base}/consents",
            {
                "about": first,
                "party": party,
                "purpose": "referral",
                "given_on": today,
                "notice_given": "y",
            },
        )
    db.expire_all()
    case = db.get(Case, case.id)
    assert case_records.has_consent(db, case, "referral", person=case.harmed_people[0])
    assert not case_records.has_consent(db, case, "referral", person=case.harmed_people[1])
    assert not case_records.has_consent(db, case, "referral")
    # A step about "the" person harmed must say which when there are several.
    r = focal.post(f"{base}/steps", {"kind": "support", "service": "counselling"})
    assert r.status_code == 302
    assert db.scalar(select(func.count(CaseStep.id)).where(CaseStep.case_id == case.id)) == 0
    focal.post(
        f"{base}/steps",
        {
            "kind": "verification",
            "method": "interview",
            "finding": "substantiated",
            "done_on": today,
        },
    )
    _move(focal, db, case, "verifying")
    _move(focal, db, case, "supporting")
    for uid in (first, second):
        for step in (
            {"kind": "support", "service": "counselling", "status": "provided", "done_on": today},
            {"kind": "follow_up", "due_on": today},
        ):
            assert focal.post(f"{base}/steps", {**step, "about": uid}).status_code == 302
    # Support and a follow-up for two of the three: monitoring is refused.
    assert _move(focal, db, case, "monitoring") == "supporting"
    for step in (
        {"kind": "support", "service": "counselling", "status": "provided", "done_on": today},
        {"kind": "follow_up", "due_on": today},
    ):
        focal.post(f"{base}/steps", {**step, "about": third})
    assert _move(focal, db, case, "monitoring") == "monitoring"
    steps = db.scalars(
        select(CaseStep).where(CaseStep.case_id == case.id, CaseStep.kind == "follow_up")
    ).all()
    by_person = {s.person_id: s for s in steps}
    assert len(by_person) == 3
    # A follow-up done for one person only: no closure request yet.
    _finish(focal, db, case, by_person[case.harmed_people[0].id])
    assert _move(focal, db, case, "closure_requested", closure_reason="resolved") == "monitoring"
    for person in case.harmed_people[1:]:
        _finish(focal, db, case, by_person[person.id])
    assert _move(focal, db, case, "closure_requested", closure_reason="resolved") == (
        "closure_requested"
    )


def _move(focal: Visitor, db, case: Case, target: str, **extra) -> str:
    db.expire_all()
    current = db.get(Case, case.id)
    focal.post(
        f"/cases/{case.public_id}/transition",
        {
            "target": target,
            "reason": "Lý do đủ dài cho việc chuyển",
            "version": str(current.version),
            **extra,
        },
    )
    db.expire_all()
    return db.get(Case, case.id).status


def _finish(focal: Visitor, db, case: Case, step: CaseStep) -> None:
    db.expire_all()
    step = db.get(CaseStep, step.id)
    r = focal.post(
        f"/cases/{case.public_id}/steps/{step.uid}/complete",
        {"situation": "safe", "done_on": local_today().isoformat(), "version": str(step.version)},
    )
    assert r.status_code == 302


def test_withdrawing_a_person_keeps_the_row_and_is_audited(app, db, world):
    focal, case = _three_harmed(app, db, world)
    boy = case.harmed_people[2]
    start = audit_head(db)
    r = focal.post(
        f"/cases/{case.public_id}/persons/{boy.uid}/withdraw",
        {"version": str(case.version), "reason": "Ghi nhầm người"},
    )
    assert r.status_code == 302
    assert actions_after(db, start) == ["person.withdraw"]
    db.expire_all()
    case = db.get(Case, case.id)
    row = db.get(CasePerson, boy.id)
    assert row is not None and row.withdrawn_at is not None  # never deleted
    assert case.harmed_sex_group == "female"  # the two girls left
    assert [p.ordinal for p in case.harmed_people] == [1, 2]
    assert not db.scalars(select(CaseNameIndex).where(CaseNameIndex.person_id == boy.id)).all()
    event = db.scalar(select(AuditEvent).where(AuditEvent.seq > start))
    assert reason_of(db, event) == "Ghi nhầm người" and event.object_ref == case.reference
    # The last person harmed stays.
    for person in case.harmed_people[1:]:
        db.expire_all()
        current = db.get(Case, case.id)
        focal.post(
            f"/cases/{case.public_id}/persons/{person.uid}/withdraw",
            {"version": str(current.version), "reason": "Ghi nhầm người"},
        )
    db.expire_all()
    assert len(db.get(Case, case.id).harmed_people) == 1


def test_editing_a_person_reindexes_and_reseals(app, db, world):
    focal, case = _three_harmed(app, db, world)
    girl = case.harmed_people[1]
    url = f"/cases/{case.public_id}/persons/{girl.uid}/edit"
    answers = form_fields(focal.get(url), url)
    assert answers["name"] == "Hoàng Thị Lan"
    answers.update(name="Hoàng Thị Lanh", grade="8")
    start = audit_head(db)
    assert focal.post(url, answers).status_code == 302
    assert actions_after(db, start) == ["person.update"]
    db.expire_all()
    case = db.get(Case, case.id)
    content = case_content.open_content(db, _focal(db, world), case)
    assert [v.name for v in content.people][1] == "Hoàng Thị Lanh"
    assert db.get(CasePerson, girl.id).grade == 8


def _focal(db, world):
    from caseapp.models import User

    return db.get(User, world["focal_a"].id)


# --- attacks ----------------------------------------------------------------------------------


def test_a_person_of_a_case_out_of_scope_is_not_found(app, db, world):
    _, case = _three_harmed(app, db, world)
    girl = case.harmed_people[1]
    other = Visitor(app, db, world["focal_b"], lang="en")  # the focal point of SCH-B
    base = f"/cases/{case.public_id}/persons"
    own = Visitor(app, db, world["focal_a"], lang="en")
    assert own.get(f"{base}/{girl.uid}/edit").status_code == 200  # the address is real
    start = audit_head(db)
    assert other.get(f"{base}/{girl.uid}/edit").status_code == 404
    assert (
        other.post(f"{base}/{girl.uid}/edit", {**BOY, "version": str(case.version)}).status_code
        == 404
    )
    assert (
        other.post(
            f"{base}/{girl.uid}/withdraw", {"version": str(case.version), "reason": "x"}
        ).status_code
        == 404
    )
    assert (
        other.post(f"{base}/new?position=harmed", {**BOY, "version": str(case.version)}).status_code
        == 404
    )
    assert actions_after(db, start) == []
    db.expire_all()
    assert db.get(CasePerson, girl.id).sex == "female"
    assert len(db.get(Case, case.id).people) == 4


def test_a_stale_form_is_a_conflict(app, db, world):
    focal, case = _three_harmed(app, db, world)
    girl = case.harmed_people[1]
    stale = str(case.version - 1)
    start = audit_head(db)
    r = focal.post(
        f"/cases/{case.public_id}/persons/{girl.uid}/edit",
        {**GIRL_2, "sex": "male", "version": stale},
    )
    assert r.status_code == 409
    r = focal.post(
        f"/cases/{case.public_id}/persons/{girl.uid}/withdraw", {"version": stale, "reason": "x"}
    )
    assert r.status_code == 409
    r = focal.post(
        f"/cases/{case.public_id}/persons/new?position=harmed", {**BOY, "version": stale}
    )
    assert r.status_code == 409
    assert actions_after(db, start) == []
    db.expire_all()
    assert db.get(CasePerson, girl.id).sex == "female"
    assert len(db.get(Case, case.id).people) == 4


def test_a_person_of_another_case_is_not_found(app, db, world):
    focal, case = _three_harmed(app, db, world)
    other = focal.intake(db, world.units["SCH-A"])
    stranger = other.harmed_people[0]
    base = f"/cases/{case.public_id}"
    start = audit_head(db)
    assert focal.get(f"{base}/persons/{stranger.uid}/edit").status_code == 404
    r = focal.post(f"{base}/persons/{stranger.uid}/edit", {**BOY, "version": str(case.version)})
    assert r.status_code == 404
    r = focal.post(
        f"{base}/persons/{stranger.uid}/withdraw", {"version": str(case.version), "reason": "x"}
    )
    assert r.status_code == 404
    # A consent or a step naming another case's person is refused, nothing recorded.
    today = local_today().isoformat()
    focal.post(
        f"{base}/consents",
        {
            "about": stranger.uid,
            "party": "guardian",
            "purpose": "sharing",
            "given_on": today,
            "notice_given": "y",
        },
    )
    focal.post(
        f"{base}/steps", {"kind": "support", "service": "counselling", "about": stranger.uid}
    )
    assert actions_after(db, start) == []
    db.expire_all()
    assert db.get(CasePerson, stranger.id).withdrawn_at is None


def test_repeat_alerts_are_per_person(app, db, world):
    focal, case = _three_harmed(app, db, world)
    again = focal.intake(db, world.units["SCH-A"], harmed_name="Vu Minh Khoa")  # the boy again
    db.expire_all()
    case = db.get(Case, case.id)
    counts = case_records.repeat_counts_by_person(db, _focal(db, world), case)
    boy = case.harmed_people[2]
    assert counts[boy.uid] == 1
    assert counts[case.harmed_people[1].uid] == 0
    listed = focal.get(f"/cases/?related={case.public_id}&person={boy.uid}").get_data(as_text=True)
    assert again.reference in listed
    listed = focal.get(
        f"/cases/?related={case.public_id}&person={case.harmed_people[1].uid}"
    ).get_data(as_text=True)
    assert again.reference not in listed


def test_intake_with_more_people_and_perpetrators(app, db, world):
    from caseapp.services.cases import intake as cases
    from tests.functional.case_attack_support import case_details

    details = case_details(perpetrator_count=2)
    details.more_people = [
        people.PersonInput(position="harmed", sex="male", age_band="15-17", role="pupil"),
        people.PersonInput(
            position="perpetrator",
            sex="female",
            age_band="25-59",
            relationship="teacher",
            role="teacher",
            name="Cô Giáo X",
        ),
    ]
    case = cases.create_case(
        db,
        _focal(db, world),
        db.get(Unit, world.units["SCH-A"]),
        details,
        cases.CaseContent(harmed_name="A", perpetrator_names="B\nC\nD"),
    )
    db.commit()
    db.expire_all()
    case = db.get(Case, case.id)
    assert [(p.position, p.ordinal) for p in case.people] == [
        ("harmed", 1),
        ("harmed", 2),
        ("perpetrator", 1),
        ("perpetrator", 2),
        ("perpetrator", 3),
    ]
    assert case.harmed_sex_group == "mixed"
    content = case_content.open_content(db, _focal(db, world), case)
    assert [v.name for v in content.people] == ["A", "", "B\nC", "D", "Cô Giáo X"]


def test_discipline_names_an_alleged_perpetrator(app, db, world):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    case = focal.intake(db, world.units["SCH-A"], perpetrator_count="2")
    base, today = f"/cases/{case.public_id}", local_today().isoformat()
    discipline = {"kind": "discipline", "measure": "reminder", "done_on": today}
    start = audit_head(db)
    focal.post(f"{base}/steps", discipline)  # two perpetrators: which one?
    assert actions_after(db, start) == []
    second = case.perpetrators[1]
    assert focal.post(f"{base}/steps", {**discipline, "about": second.uid}).status_code == 302
    step = db.scalar(select(CaseStep).where(CaseStep.case_id == case.id))
    assert step.person_id == second.id
    # A person harmed is not an alleged perpetrator.
    focal.post(f"{base}/steps", {**discipline, "about": case.harmed_people[0].uid})
    assert db.scalar(select(func.count(CaseStep.id)).where(CaseStep.case_id == case.id)) == 1


def test_a_referral_needs_the_consent_of_the_person_it_is_about(app, db, world):
    from tests.functional.workflow_support import referral_contact

    focal, case = _three_harmed(app, db, world)
    contact = referral_contact(db, world, "D1")
    db.commit()
    base, today = f"/cases/{case.public_id}", local_today().isoformat()
    first, second = case.harmed_people[0], case.harmed_people[1]
    for party in ("person_harmed", "guardian"):
        focal.post(
            f"{base}/consents",
            {
                "about": first.uid,
                "party": party,
                "purpose": "referral",
                "given_on": today,
                "notice_given": "y",
            },
        )
    referral = {"kind": "referral", "contact_id": str(contact.id)}
    start = audit_head(db)
    focal.post(f"{base}/steps", {**referral, "about": second.uid})
    assert actions_after(db, start) == []  # no consent for the second girl
    assert focal.post(f"{base}/steps", {**referral, "about": first.uid}).status_code == 302
    assert actions_after(db, start) == ["step.add"]
    step = db.scalar(select(CaseStep).where(CaseStep.case_id == case.id))
    assert (step.person_id, step.consent_override) == (first.id, False)
