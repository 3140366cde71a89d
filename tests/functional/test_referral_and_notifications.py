"""Referrals and consent (with the officer's override for a child in serious danger), in-app
notifications to the right people, and reminder e-mails through a real SMTP listener that never
carry anything identifying."""

from __future__ import annotations

import dataclasses
import html
import json
import re
import socket
from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from caseapp.clock import local_today
from caseapp.models import AuditEvent, CaseStep, Grant, Notification, Unit
from caseapp.services.accounts import users
from caseapp.services.cases.records import has_consent, parties_required
from tests.factories import Visitor, reason_of
from tests.functional.case_support import CANARY
from tests.functional.workflow_support import (
    consent,
    move,
    reach,
    referral_contact,
    state_of,
    text_of,
    user,
)

NO_CONSENT = (
    "No referral without the recorded consent of the person harmed (and guardian for a child)."
)
OVERRIDE_REASON = "Trẻ bị đe doạ tính mạng"


@pytest.fixture()
def focal(app, db, world):
    return Visitor(app, db, world["focal_a"], lang="en")


@pytest.fixture()
def officer(app, db, world):
    return Visitor(app, db, world["officer_d1"], lang="en")


@pytest.fixture()
def case(db, world, focal):
    return focal.intake(db, world.units["SCH-A"])


@pytest.fixture()
def contact(db, world):
    return referral_contact(db, world, "D1")


def _referrals(db, case) -> list[CaseStep]:
    db.expire_all()
    return list(
        db.scalars(select(CaseStep).where(CaseStep.case_id == case.id, CaseStep.kind == "referral"))
    )


# Referrals and consent ----------------------------------------------------------------------


@pytest.mark.parametrize("given", [(), ("person_harmed",), ("guardian",)])
def test_no_referral_without_consent(db, world, focal, case, contact, given):
    assert case.child and case.harmed_people[0].age_years == 12
    assert parties_required(case.harmed_people[0]) == ("person_harmed", "guardian")
    consent(db, world["focal_a"], case, *given)
    consent(db, world["focal_a"], case, "person_harmed", "guardian", purpose="sharing")
    before = state_of(db, case)
    r = focal.add_step(case, kind="referral", contact_id=str(contact.id))
    assert r.status_code == 302 and NO_CONSENT in r.text
    assert state_of(db, case) == before and _referrals(db, case) == []


def test_referral_with_the_consent_of_child_and_guardian(db, world, focal, case, contact):
    for party in ("person_harmed", "guardian"):
        r = focal.submit(
            f"/cases/{case.public_id}/consents",
            {
                "party": party,
                "purpose": "referral",
                "given_on": local_today().isoformat(),
                "notice_given": "y",
            },
        )
        assert "Consent recorded." in r.text
    assert has_consent(db, case, "referral")
    r = focal.add_step(case, kind="referral", contact_id=str(contact.id), details="Gọi trước")
    assert "Step recorded." in r.text
    [step] = _referrals(db, case)
    assert (step.contact_id, step.status, step.consent_override) == (contact.id, "sent", False)
    page = text_of(focal.get(f"/cases/{case.public_id}"))
    assert contact.name in page and "without consent" not in page


def test_a_withdrawn_consent_no_longer_counts(db, world, focal, case, contact):
    consent(db, world["focal_a"], case, "person_harmed", "guardian")
    guardian = [c for c in _consents(db, case) if c.party == "guardian"][0]
    r = focal.submit(
        f"/cases/{case.public_id}/consents/{guardian.id}/withdraw",
        {"withdrawn_on": local_today().isoformat(), "confirm": "y"},
    )
    assert "Consent withdrawn." in r.text
    r = focal.add_step(case, kind="referral", contact_id=str(contact.id))
    assert NO_CONSENT in r.text and _referrals(db, case) == []


def _consents(db, case):
    from caseapp.services.cases.records import consents

    db.expire_all()
    return consents(db, case)


def test_a_contact_outside_the_school_s_directory_is_refused(db, world, focal, case):
    consent(db, world["focal_a"], case, "person_harmed", "guardian")
    elsewhere = referral_contact(db, world, "D2")
    r = focal.add_step(case, kind="referral", contact_id=str(elsewhere.id))
    assert "Choose a service from the referral directory." in r.text
    assert _referrals(db, case) == []


@pytest.mark.parametrize(
    ("override", "reason", "message"),
    [
        (None, OVERRIDE_REASON, NO_CONSENT),
        ("y", "", "Explain why the child is in serious danger."),
        ("y", "  nguy hiểm  ", "Explain why the child is in serious danger."),  # 9 characters
        ("y", "nguy hiểm!", None),  # 10 characters
        ("y", OVERRIDE_REASON, None),
    ],
)
def test_an_officer_may_refer_without_consent_with_a_reason(
    db, world, focal, officer, contact, override, reason, message
):
    case = focal.intake(db, world.units["SCH-A"], serious_risk_to_child="y")
    before = state_of(db, case)
    r = officer.add_step(
        case,
        kind="referral",
        contact_id=str(contact.id),
        consent_override=override,
        override_reason=reason,
    )
    if message:
        assert message in r.text
        assert state_of(db, case) == before
        return
    assert "Step recorded." in r.text
    [step] = _referrals(db, case)
    assert step.consent_override is True and step.created_by_id == world["officer_d1"].id
    event = db.scalar(
        select(AuditEvent).where(
            AuditEvent.object_ref == case.reference, AuditEvent.action == "step.add"
        )
    )
    assert reason_of(db, event) == reason.strip() and event.actor_name == "officer.d1"
    assert json.loads(event.changes)["consent_override"] == [None, True]
    assert "without consent (officer override)" in text_of(officer.get(f"/cases/{case.public_id}"))


@pytest.mark.parametrize(
    "details",
    [
        {
            "child": "",
            "harmed_age_band": "18-24",
            "harmed_age_years": "19",
            "risk_level": "immediate",
        },
        {"risk_level": "high"},
    ],
    ids=["adult_in_immediate_danger", "child_not_flagged_in_serious_danger"],
)
def test_consent_is_overridden_only_for_a_child_in_serious_danger(
    db, world, focal, officer, contact, details
):
    case = focal.intake(db, world.units["SCH-A"], **details)
    before = state_of(db, case)
    r = officer.add_step(
        case,
        kind="referral",
        contact_id=str(contact.id),
        consent_override="y",
        override_reason=OVERRIDE_REASON,
    )
    assert "Referral without consent is only for a child in serious danger." in r.text
    assert state_of(db, case) == before and _referrals(db, case) == []


def test_a_focal_point_cannot_override_consent(db, world, focal, case, contact):
    before = state_of(db, case)
    r = focal.add_step(
        case,
        kind="referral",
        contact_id=str(contact.id),
        consent_override="y",
        override_reason=OVERRIDE_REASON,
    )
    assert "Only an officer may refer without consent" in r.text
    assert state_of(db, case) == before


# In-app notifications -----------------------------------------------------------------------


def _recipients(db, case, kind: str) -> set[str]:
    from caseapp.models import User

    db.expire_all()
    return set(
        db.scalars(
            select(User.username)
            .join(Notification, Notification.user_id == User.id)
            .where(Notification.case_id == case.id, Notification.kind == kind)
        )
    )


def _focal_points_of(db, code: str) -> set[str]:
    from caseapp.models import User

    return set(
        db.scalars(
            select(User.username)
            .join(Grant, Grant.user_id == User.id)
            .join(Unit, Unit.id == Grant.unit_id)
            .where(
                Grant.role == "focal_point",
                Grant.revoked_at.is_(None),
                Unit.code == code,
                User.active.is_(True),
            )
        )
    )


@pytest.mark.parametrize(
    "urgent",
    [{"risk_level": "immediate"}, {"risk_level": "low", "serious_risk_to_child": "y"}],
    ids=["immediate", "child_at_serious_risk"],
)
def test_a_new_urgent_case_alerts_the_officers_above_the_school(db, world, focal, urgent):
    case = focal.intake(db, world.units["SCH-A"], **urgent)
    assert _recipients(db, case, "urgent_case") == {"officer.d1", "officer.p"}
    assert (
        db.scalar(
            select(func.count()).select_from(Notification).where(Notification.case_id == case.id)
        )
        == 2
    )


def test_an_ordinary_case_alerts_no_one(db, world, case):
    assert state_of(db, case)["notices"] == 0


def test_closure_request_approval_and_return_notify_the_right_people(
    app, db, world, focal, officer, case
):
    reach(db, world, case, "monitoring")
    assert (
        "The case is now:"
        in focal.transition(case, "closure_requested", closure_reason="resolved").text
    )
    assert _recipients(db, case, "closure_requested") == {"officer.d1", "officer.p"}
    assert "The case is now:" in officer.transition(case, "monitoring").text
    handlers = _focal_points_of(db, "SCH-A")
    assert "focal.a" in handlers and "focal.b" not in handlers
    assert _recipients(db, case, "closure_returned") == handlers
    focal.transition(case, "closure_requested", closure_reason="resolved")
    assert len([n for n in _notices(db, case) if n.kind == "closure_requested"]) == 4
    assert "The case is now:" in officer.transition(case, "closed").text
    assert _recipients(db, case, "closure_approved") == handlers
    everyone = set().union(
        *(
            _recipients(db, case, kind)
            for kind in ("closure_requested", "closure_returned", "closure_approved")
        )
    )
    assert everyone == handlers | {"officer.d1", "officer.p"}


def _notices(db, case) -> list[Notification]:
    db.expire_all()
    return list(db.scalars(select(Notification).where(Notification.case_id == case.id)))


def test_opening_a_notification_marks_it_read_and_leads_to_the_case(app, db, world, officer):
    """Opening a notice is a POST (a button with its CSRF token) that marks it read and leads
    to the case; a GET of its address (the link of a reminder e-mail) only leads there."""
    case = Visitor(app, db, world["focal_a"], lang="en").intake(
        db, world.units["SCH-A"], risk_level="immediate"
    )
    mine = db.scalar(
        select(Notification).where(
            Notification.case_id == case.id, Notification.user_id == world["officer_d1"].id
        )
    )
    theirs = db.scalar(
        select(Notification).where(
            Notification.case_id == case.id, Notification.user_id == world["officer_p"].id
        )
    )
    assert mine.read_at is None
    page = officer.get("/notifications").get_data(as_text=True)
    assert "New urgent case" in html.unescape(page)
    assert re.search(rf'<form method="post" action="/notifications/{mine.id}"', page)
    assert f'href="/notifications/{mine.id}"' not in page

    r = officer.get(f"/notifications/{mine.id}")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/cases/{case.public_id}")
    db.expire_all()
    assert mine.read_at is None  # a GET changes nothing
    r = officer.client.post(f"/notifications/{mine.id}")  # no CSRF token
    assert r.status_code == 400
    db.expire_all()
    assert mine.read_at is None

    r = officer.post(f"/notifications/{mine.id}")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/cases/{case.public_id}")
    db.expire_all()
    assert mine.read_at is not None
    for method in (officer.get, officer.post):
        assert method(f"/notifications/{theirs.id}").status_code == 404
        assert method(f"/notifications/{theirs.id + 1000}").status_code == 404
    outsider = Visitor(app, db, world["officer_d2"], lang="en")
    assert outsider.get(f"/notifications/{mine.id}").status_code == 404
    assert outsider.post(f"/notifications/{mine.id}").status_code == 404
    db.expire_all()
    assert theirs.read_at is None


# Reminder e-mails ---------------------------------------------------------------------------


class Inbox:
    """An aiosmtpd handler keeping every message it is given."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def inbox(app):
    from aiosmtpd.controller import Controller

    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    original = app.extensions["caseapp.settings"]
    app.extensions["caseapp.settings"] = dataclasses.replace(
        original,
        smtp_host="127.0.0.1",
        smtp_port=controller.port,
        base_url="https://truonghoc.example",
    )
    try:
        yield handler
    finally:
        app.extensions["caseapp.settings"] = original
        controller.stop()


def _give_addresses(db, world, *names) -> dict[int, str]:
    addresses = {}
    for name in names:
        account = user(db, world[name])
        address = f"{account.username}@truonghoc.example"
        users.update_user(db, None, account, account.full_name, address, account.version)
        addresses[account.id] = address
    db.commit()
    return addresses


def _send_due(app):
    result = app.test_cli_runner().invoke(args=["notify", "send-due"])
    assert result.exit_code == 0, result.output
    created, sent = re.search(r"(\d+) new notices; (\d+) e-mails sent", result.output).groups()
    return int(created), int(sent)


def test_overdue_reminders_are_mailed_once_and_say_nothing(app, db, world, focal, inbox):
    addresses = _give_addresses(db, world, "focal_a", "officer_d1", "officer_p", "officer_d2")
    late = focal.intake(db, world.units["SCH-A"], received_on=local_today() - timedelta(days=15))
    move(db, world["focal_a"], late, "verifying")
    other = focal.intake(db, world.units["SCH-A"])  # not overdue: no reminder
    created, sent = _send_due(app)
    notices = _notices(db, late)
    assert created == len(notices) > 0 and _notices(db, other) == []
    assert {n.kind for n in notices} == {"overdue"}
    to_mail = [n for n in notices if n.user_id in addresses]
    assert sent == len(to_mail) == len(inbox.messages)
    assert all(n.emailed_at is not None for n in to_mail)
    assert {addresses[n.user_id] for n in to_mail} == {
        "focal.a@truonghoc.example",
        "officer.d1@truonghoc.example",
        "officer.p@truonghoc.example",
    }
    assert sorted(r for rcpt, _ in inbox.messages for r in rcpt) == sorted(
        addresses[n.user_id] for n in to_mail
    )

    forbidden = [
        late.reference,
        late.public_id,
        other.reference,
        CANARY,
        "Nguyễn",
        "Trần Văn",
        "narrative",
        "Trường A",
        "SCH-A",
    ]
    subjects, bodies, linked = set(), set(), set()
    for _rcpt, raw in inbox.messages:
        message = message_from_bytes(raw, policy=default_policy)
        subject, body = str(message["Subject"]), message.get_content()
        for text in (subject, body, raw.decode("utf-8", "replace")):
            assert not [f for f in forbidden if f.lower() in text.lower()], text
        links = re.findall(r"https://truonghoc\.example/\S+", body)
        assert len(links) == 1 and re.fullmatch(
            r"https://truonghoc\.example/notifications/\d+", links[0]
        )
        subjects.add(subject)
        bodies.add(body.replace(links[0], "LINK"))
        linked.add(int(links[0].rsplit("/", 1)[1]))
    assert len(subjects) == 1 and len(bodies) == 1  # one generic text for every reminder
    with app.test_request_context(), force_locale("vi"):
        assert subjects == {gettext("Safe schools: a case at your unit needs attention")}
    assert linked == {n.id for n in to_mail}

    count = db.scalar(select(func.count()).select_from(Notification))
    assert _send_due(app) == (0, 0)
    assert len(inbox.messages) == sent
    assert db.scalar(select(func.count()).select_from(Notification)) == count


def test_without_an_smtp_host_nothing_is_mailed(app, db, world, focal):
    assert not app.extensions["caseapp.settings"].smtp_host
    _give_addresses(db, world, "focal_a")
    focal.intake(db, world.units["SCH-A"], received_on=local_today() - timedelta(days=15))
    created, sent = _send_due(app)
    assert created > 0 and sent == 0
    assert (
        db.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.emailed_at.is_not(None))
        )
        == 0
    )


def test_a_person_excluded_after_a_notice_no_longer_gets_it(app, db, world, focal, inbox):
    """The urgent-case notice is written at intake, before anyone can be excluded: once
    officer_d1 is excluded it leaves their badge and list, cannot be opened, and is not
    mailed; officer_p still gets theirs."""
    from caseapp.models import User
    from caseapp.services.cases import notifications

    addresses = _give_addresses(db, world, "officer_d1", "officer_p")
    case = focal.intake(db, world.units["SCH-A"], risk_level="immediate")
    d1 = db.get(User, world["officer_d1"].id)
    mine = db.scalar(
        select(Notification).where(Notification.case_id == case.id, Notification.user_id == d1.id)
    )
    assert notifications.unread_count(db, d1) >= 1
    before = notifications.unread_count(db, d1)
    r = focal.post(
        f"/cases/{case.public_id}/exclusions",
        {"person": str(d1.id), "reason": "Người thân của người bị tố cáo"},
    )
    assert r.status_code == 302
    db.expire_all()
    # The urgent-case notice leaves their badge; they are not told of the exclusion (that would
    # tip them off): only the officer above them is (services/accounts/notices.py).
    assert notifications.unread_count(db, d1) == before - 1
    assert mine.id not in {n.id for n in notifications.for_user(db, d1)}
    assert [n.kind for n in notifications.for_user(db, d1) if n.case_id is None] == []
    excluded = Visitor(app, db, world["officer_d1"], lang="en")
    assert excluded.get(f"/notifications/{mine.id}").status_code == 404
    assert excluded.post(f"/notifications/{mine.id}").status_code == 404
    db.expire_all()
    assert db.get(Notification, mine.id).read_at is None
    _created, sent = _send_due(app)
    mailed = {
        (n.user_id, n.case_id)
        for n in db.scalars(select(Notification).where(Notification.emailed_at.is_not(None)))
    }
    # The case's notice reaches officer_p only, and so does the account notice (no case).
    assert mailed == {(world["officer_p"].id, case.id), (world["officer_p"].id, None)}
    assert sorted(r for rcpt, _raw in inbox.messages for r in rcpt) == sorted(
        [addresses[world["officer_p"].id]] * 2
    )
    assert sent == 2


def test_the_notice_list_names_the_case_and_marks_all_read(app, db, world, officer):
    """In the app a notice names its case and school (its reader may see them; e-mails never
    do); "mark all as read" clears the badge of one's own notices only."""
    from caseapp.models import User
    from caseapp.services.cases import notifications

    case = Visitor(app, db, world["focal_a"], lang="en").intake(
        db, world.units["SCH-A"], risk_level="immediate"
    )
    page = text_of(officer.get("/notifications"))
    assert case.reference in page and "Mark all as read" in page
    d1, p = db.get(User, world["officer_d1"].id), db.get(User, world["officer_p"].id)
    theirs = notifications.unread_count(db, p)
    assert notifications.unread_count(db, d1) >= 1
    r = officer.post("/notifications/read", {})
    assert r.status_code == 302
    db.expire_all()
    assert notifications.unread_count(db, d1) == 0
    assert notifications.unread_count(db, p) == theirs
    assert "Mark all as read" not in text_of(officer.get("/notifications"))
