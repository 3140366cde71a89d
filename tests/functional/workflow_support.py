"""Helpers for the workflow tests: people acting through their own client (in English, so the
flashed messages read as in the code), and cases driven through the real steps with the
services, to any state of the workflow."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select

from caseapp.clock import local_today
from caseapp.models import AuditEvent, Case, CaseStep, CaseTransition, Notification, User
from caseapp.services.cases import records as case_records
from caseapp.services.cases import steps as step_service
from caseapp.services.cases import workflow as workflow_service
from caseapp.services.cases.steps import StepInput
from caseapp.services.org import referrals
from tests.factories import csrf_from, sign_in_client
from tests.functional.case_support import intake_form

# A URL no rule matches: its 404 page carries the language form, hence a CSRF token.
TOKEN_PAGE = "/__no_such_page__"
REASON = "Lý do hợp lệ cho bước này"


class Actor:
    """One signed-in person with their own test client, reading pages in English."""

    def __init__(self, app, db, person, lang: str = "en") -> None:
        self.client = app.test_client()
        self.person = person
        sign_in_client(self.client, db, person)
        with self.client.session_transaction() as sess:
            sess["lang"] = lang
        self._token: str | None = None

    @property
    def token(self) -> str:
        if self._token is None:
            self._token = csrf_from(self.client.get(TOKEN_PAGE).get_data(as_text=True))
        return self._token

    def get(self, url, **kw):
        return self.client.get(url, **kw)

    def post(self, url, data=None, **kw):
        fields = {k: v for k, v in (data or {}).items() if v is not None}
        return self.client.post(url, data={"csrf_token": self.token, **fields}, **kw)

    def intake(self, db, unit_id: int, received_on: date | None = None, **overrides) -> Case:
        form = intake_form(
            unit_id, received_on=(received_on or local_today()).isoformat(), **overrides
        )
        r = self.post("/cases/new", form)
        assert r.status_code == 302, r.get_data(as_text=True)[:3000]
        public_id = r.headers["Location"].rsplit("/", 1)[-1]
        with self.client.session_transaction() as sess:
            sess.pop("_flashes", None)  # "Case ... recorded." would show on the next page
        db.expire_all()
        return db.scalar(select(Case).where(Case.public_id == public_id))

    def submit(self, url, data) -> Outcome:
        """POST a form of the case page; the messages it flashes, without rendering the page
        the redirect leads to (``page=True`` renders it, as a browser would)."""
        r = self.post(url, data)
        if r.status_code != 302:
            return Outcome(r.status_code, text_of(r))
        with self.client.session_transaction() as sess:
            flashes = sess.pop("_flashes", [])
        return Outcome(r.status_code, " ".join(message for _, message in flashes))

    def transition(
        self,
        case: Case,
        target: str,
        reason: str = REASON,
        version=None,
        closure_reason: str | None = None,
    ) -> Outcome:
        data = {
            "target": target,
            "reason": reason,
            "closure_reason": closure_reason,
            "version": str(case.version if version is None else version),
        }
        return self.submit(f"/cases/{case.public_id}/transition", data)

    def add_step(self, case: Case, **fields) -> Outcome:
        data = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in fields.items()}
        return self.submit(f"/cases/{case.public_id}/steps", data)

    def complete_step(self, case: Case, step: CaseStep, **fields) -> Outcome:
        data = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in fields.items()}
        data.setdefault("version", str(step.version))
        return self.submit(f"/cases/{case.public_id}/steps/{step.uid}/complete", data)


@dataclass
class Outcome:
    """The answer to a form post: 302 with the flashed messages, or an error page's text."""

    status_code: int
    text: str


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def user(db, person) -> User:
    return db.get(User, person.id)


# Driving a case with the services (fast, and the same code the routes call) ----------------


def add(db, person, case: Case, kind: str, **fields) -> CaseStep:
    step = step_service.add_step(db, user(db, person), case, StepInput(kind=kind, **fields))
    db.commit()
    return step


def complete(db, person, case: Case, step: CaseStep, **fields) -> CaseStep:
    db.refresh(step)
    step_service.complete_step(
        db, user(db, person), case, step, StepInput(kind=step.kind, **fields), step.version
    )
    db.commit()
    return step


def move(db, person, case: Case, target: str, closure_reason: str | None = None) -> Case:
    db.refresh(case)
    workflow_service.transition(
        db, user(db, person), case, target, REASON, case.version, closure_reason
    )
    db.commit()
    return case


def verify(db, person, case: Case, finding: str | None = "substantiated") -> CaseStep:
    done = local_today() if finding else None
    return add(db, person, case, "verification", method="interview", finding=finding, done_on=done)


def provide_support(db, person, case: Case, status: str = "provided") -> CaseStep:
    done = local_today() if status == "provided" else None
    return add(db, person, case, "support", service="counselling", status=status, done_on=done)


def schedule_follow_up(db, person, case: Case, due_on: date | None = None) -> CaseStep:
    return add(db, person, case, "follow_up", due_on=due_on or local_today() + timedelta(days=7))


def done_follow_up(db, person, case: Case) -> CaseStep:
    step = schedule_follow_up(db, person, case, due_on=local_today())
    return complete(db, person, case, step, done_on=local_today(), situation="safe")


# The way through the workflow; each state is reached with the facts its exits need.
ORDER = ("new", "verifying", "supporting", "monitoring", "closure_requested", "closed", "reopened")


def reach(db, world, case: Case, state: str, finding: str = "substantiated") -> Case:
    """Take ``case`` (new) to ``state`` the way people would: focal_a handles the school's
    case, officer_p approves and reopens (so officer_d1 is still free to act)."""
    focal, officer = world["focal_a"], world["officer_p"]
    stop = ORDER.index(state)
    if stop >= 1:
        move(db, focal, case, "verifying")
        verify(db, focal, case, finding)
    if stop >= 2:
        move(db, focal, case, "supporting")
        provide_support(db, focal, case)
        done_follow_up(db, focal, case)
        schedule_follow_up(db, focal, case)
    if stop >= 3:
        move(db, focal, case, "monitoring")
    if stop >= 4:
        move(db, focal, case, "closure_requested", closure_reason="resolved")
    if stop >= 5:
        move(db, officer, case, "closed")
    if stop >= 6:
        move(db, officer, case, "reopened")
    db.expire_all()
    assert case.status == state
    return case


def referral_contact(db, world, code: str = "D1"):
    from caseapp.models import Unit

    unit = db.get(Unit, world.units[code])
    contact = referrals.create_contact(
        db, None, unit, f"Dịch vụ tư vấn {code}", "hotline", "111", ""
    )
    db.commit()
    return contact


def consent(db, person, case: Case, *parties: str, purpose: str = "referral") -> None:
    for party in parties:
        case_records.record_consent(db, user(db, person), case, party, purpose, local_today())
    db.commit()


# What is stored about a case, to show that a refused action changed nothing -----------------


def state_of(db, case: Case) -> dict:
    db.expire_all()
    return {
        "status": case.status,
        "version": case.version,
        "requested_by": case.closure_requested_by_id,
        "transitions": db.scalar(
            select(func.count())
            .select_from(CaseTransition)
            .where(CaseTransition.case_id == case.id)
        ),
        "steps": db.scalar(
            select(func.count()).select_from(CaseStep).where(CaseStep.case_id == case.id)
        ),
        "audit": db.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.object_ref == case.reference,
                AuditEvent.action.in_(("case.transition", "step.add")),
            )
        ),
        "notices": db.scalar(
            select(func.count()).select_from(Notification).where(Notification.case_id == case.id)
        ),
    }


def transition_events(db, case: Case) -> list[AuditEvent]:
    return list(
        db.scalars(
            select(AuditEvent)
            .where(AuditEvent.object_ref == case.reference, AuditEvent.action == "case.transition")
            .order_by(AuditEvent.seq)
        )
    )


def notices(db, case: Case, kind: str | None = None) -> list[Notification]:
    stmt = select(Notification).where(Notification.case_id == case.id)
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    return list(db.scalars(stmt.order_by(Notification.id)))
