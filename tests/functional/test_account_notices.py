"""People are told: a notice about an account reaches the person and the officers above them,
in the app (the list and the badge, opening to the account's page) and by an e-mail that says
only that a change was made to an account, never which case, child or reason."""

from __future__ import annotations

import dataclasses
import html
import re
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import select

from caseapp.models import Notification, User
from caseapp.services.accounts import notices, users
from caseapp.services.cases import notifications
from tests.factories import Visitor
from tests.functional.test_referral_and_notifications import Inbox, _free_port

OWN = {
    "account.reset": "Your sign-in was reset",
    "account.enrolled": "You set up your sign-in with an enrolment code",
    "account.granted": "A role was granted to you",
    "account.revoked": "A role of yours was revoked",
    "account.requested": "A change to your account awaits a second approval",
    "account.included": "Your exclusion from a case was lifted",
    "account.disabled": "Your account was disabled",
    "account.enabled": "Your account was enabled",
}
ABOUT = {
    "account.reset": "The sign-in of {name} was reset",
    "account.enrolled": "{name} set up their sign-in with an enrolment code",
    "account.granted": "A role was granted to {name}",
    "account.revoked": "A role of {name} was revoked",
    "account.requested": "A change to the account of {name} awaits a second approval",
    "account.excluded": "{name} was excluded from a case",
    "account.included": "An exclusion of {name} from a case was lifted",
    "account.disabled": "The account of {name} was disabled",
    "account.enabled": "The account of {name} was enabled",
}


def _user(db, world, name) -> User:
    return db.get(User, world[name].id)


def _list(app, db, world, name) -> str:
    r = Visitor(app, db, world[name], lang="en").get("/notifications")
    assert r.status_code == 200
    return html.unescape(r.get_data(as_text=True))


def _mine(db, person_id: int, kind: str) -> Notification:
    return db.scalar(
        select(Notification)
        .where(Notification.user_id == person_id, Notification.kind == kind)
        .order_by(Notification.id.desc())
        .limit(1)
    )


@pytest.mark.parametrize("kind", notices.ACCOUNT_KINDS)
def test_the_person_and_the_officers_above_read_what_happened(app, db, world, kind):
    person = _user(db, world, "focal_a")
    before = {n: notifications.unread_count(db, _user(db, world, n)) for n in world.people}
    told = notices.tell(db, person, kind)
    db.commit()
    # focal_a, officer_d1 (D1), officer_p (province); an exclusion only to the officers.
    readers = {"officer_d1", "officer_p"} | ({"focal_a"} if kind in OWN else set())
    assert told == len(readers)
    if kind in OWN:
        assert OWN[kind] in _list(app, db, world, "focal_a")
    about = ABOUT[kind].format(name=person.full_name)
    for officer in ("officer_d1", "officer_p"):
        assert about in _list(app, db, world, officer)
    after = {n: notifications.unread_count(db, _user(db, world, n)) for n in world.people}
    assert {n for n in world.people if after[n] != before[n]} == readers
    assert about not in _list(app, db, world, "officer_d2")


def test_opening_a_notice_leads_to_the_account_page_not_a_case(app, db, world):
    person = _user(db, world, "focal_a")
    notices.tell(db, person, "account.granted")
    db.commit()
    own = _mine(db, person.id, "account.granted")
    theirs = _mine(db, world["officer_d1"].id, "account.granted")
    me = Visitor(app, db, world["focal_a"], lang="en")
    r = me.post(f"/notifications/{own.id}")
    assert r.status_code == 302 and r.headers["Location"].endswith("/account/")
    db.expire_all()
    assert own.read_at is not None
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    r = officer.post(f"/notifications/{theirs.id}")
    assert r.status_code == 302
    assert r.headers["Location"].endswith(f"/account/people/{person.id}")
    assert officer.get(r.headers["Location"]).status_code == 200
    # Someone else's notice: not found, not marked.
    assert Visitor(app, db, world["officer_d2"]).post(f"/notifications/{own.id}").status_code == 404


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


def test_the_e_mails_say_only_that_an_account_changed(app, db, world, inbox):
    addresses = {}
    for name in ("focal_a", "officer_d1"):
        account = _user(db, world, name)
        users.update_user(
            db, None, account, account.full_name, f"{name}@t.example", account.version
        )
        addresses[account.id] = f"{name}@t.example"
    person = _user(db, world, "focal_a")
    visitor = Visitor(app, db, world["focal_a"], lang="en")
    case = visitor.intake(db, world.units["SCH-A"])
    notices.tell(db, person, "account.excluded")
    notices.tell(db, person, "account.reset")
    db.commit()
    sent = notifications.send_pending_emails(db)
    # The reset to focal_a and officer_d1; the exclusion to officer_d1 only.
    assert sent == 3 == len(inbox.messages)
    forbidden = [
        case.reference,
        case.public_id,
        person.full_name,
        person.username,
        "excluded",
        "reset",
        "Trường A",
    ]
    by_address: dict[str, set[tuple[str, str]]] = {}
    for rcpt, raw in inbox.messages:
        message = message_from_bytes(raw, policy=default_policy)
        subject, body = str(message["Subject"]), message.get_content()
        for text in (subject, body):
            assert not [f for f in forbidden if f.lower() in text.lower()], text
        links = re.findall(r"https://truonghoc\.example/\S+", body)
        assert len(links) == 1 and re.fullmatch(
            r"https://truonghoc\.example/notifications/\d+", links[0]
        )
        by_address.setdefault(rcpt[0], set()).add((subject, body.replace(links[0], "LINK")))
    # One generic text per reader: the person's own account, or one they oversee.
    assert len(by_address["focal_a@t.example"]) == 1
    assert len(by_address["officer_d1@t.example"]) == 1
    with app.test_request_context(), force_locale("vi"):
        own_subject = gettext("Safe schools: a change to your account")
        overseen_subject = gettext("Safe schools: a change to an account you oversee")
    assert {s for s, _b in by_address["focal_a@t.example"]} == {own_subject}
    assert {s for s, _b in by_address["officer_d1@t.example"]} == {overseen_subject}
    assert notifications.send_pending_emails(db) == 0  # each is sent once


def test_an_unknown_kind_is_refused(db, world):
    with pytest.raises(ValueError):
        notices.tell(db, _user(db, world, "focal_a"), "account.whatever")


def test_an_excluded_person_is_never_tipped_off(app, db, world, inbox):
    """Excluding someone from a case tells only the officers above them (naming the person,
    never the case): the person gets no notice, no e-mail and nothing on their account page, nor
    when a lift is asked for or rejected. Once a lift is approved they are told (harmless then)."""
    from caseapp.services.accounts import approvals, history
    from caseapp.services.cases import records

    for name in ("officer_d1", "officer_p"):
        account = _user(db, world, name)
        users.update_user(
            db, None, account, account.full_name, f"{name}@t.example", account.version
        )
    db.commit()
    person = _user(db, world, "officer_d1")
    own_page_before = _own_changes(app, db, world, "officer_d1")
    own_before = {n.id for n in notifications.for_user(db, person)}
    focal = Visitor(app, db, world["focal_a"], lang="en")
    case = focal.intake(db, world.units["SCH-A"])
    notifications.send_pending_emails(db)  # the intake's own notices, out of the way
    inbox.messages.clear()
    r = focal.post(
        f"/cases/{case.public_id}/exclusions",
        {"person": str(person.id), "reason": "Người thân của người bị tố cáo"},
    )
    assert r.status_code == 302
    db.expire_all()
    exclusion = records.exclusions(db, case)[0]

    def nothing_reached_the_person() -> None:
        db.expire_all()
        mine = [n for n in notifications.for_user(db, person) if n.id not in own_before]
        assert [n.kind for n in mine] == [], mine
        assert not db.scalar(
            select(Notification.id).where(
                Notification.user_id == person.id, Notification.kind == "account.excluded"
            )
        )
        notifications.send_pending_emails(db)
        assert "officer_d1@t.example" not in [r for rcpt, _raw in inbox.messages for r in rcpt]
        assert _own_changes(app, db, world, "officer_d1") == own_page_before
        page = _account_page(app, db, world, "officer_d1")
        for secret in ("xcluded", "xclusion", case.reference, "Approval requested"):
            assert secret not in page, secret

    nothing_reached_the_person()
    # The officer above them is told, naming the person (not the case), in the app and by mail.
    assert f"{person.full_name} was excluded from a case" in _list(app, db, world, "officer_p")
    assert "officer_p@t.example" in [r for rcpt, _raw in inbox.messages for r in rcpt]
    # The officer above still sees the exclusion in the person's history.
    with app.test_request_context(), force_locale("en"):
        theirs = history.describe(
            db,
            _user(db, world, "officer_p"),
            list(db.scalars(history.changes_to(person, own=False))),
        )
    assert "Excluded from a case" in [c.what for c in theirs]

    # A lift asked for, then rejected: still nothing for the person.
    asked = approvals.request_exclusion_lift(
        db, _user(db, world, "officer_p"), case, exclusion.id, "Nhầm người"
    )
    db.commit()
    approvals.reject(db, _user(db, world, "admin_d1"), asked, "Không đúng", asked.version)
    db.commit()
    nothing_reached_the_person()

    # A lift approved: now they are told they may see the case again.
    asked = approvals.request_exclusion_lift(
        db, _user(db, world, "officer_p"), case, exclusion.id, "Nhầm người"
    )
    db.commit()
    nothing_reached_the_person()
    approvals.approve(db, _user(db, world, "admin_d1"), asked, "", asked.version)
    db.commit()
    assert "Your exclusion from a case was lifted" in _list(app, db, world, "officer_d1")


def _account_page(app, db, world, name) -> str:
    r = Visitor(app, db, world[name], lang="en").get("/account/")
    assert r.status_code == 200
    return html.unescape(r.get_data(as_text=True))


def _own_changes(app, db, world, name) -> list[tuple[str, str]]:
    from caseapp.services.accounts import history

    me = _user(db, world, name)
    with app.test_request_context(), force_locale("en"):
        return [
            (c.what, c.by)
            for c in history.describe(db, me, list(db.scalars(history.changes_to(me))))
        ]
