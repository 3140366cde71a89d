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
    "account.excluded": "You were excluded from a case",
    "account.included": "Your exclusion from a case was lifted",
}
ABOUT = {
    "account.reset": "The sign-in of {name} was reset",
    "account.enrolled": "{name} set up their sign-in with an enrolment code",
    "account.granted": "A role was granted to {name}",
    "account.revoked": "A role of {name} was revoked",
    "account.requested": "A change to the account of {name} awaits a second approval",
    "account.excluded": "{name} was excluded from a case",
    "account.included": "An exclusion of {name} from a case was lifted",
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
    assert told == 3  # focal_a, officer_d1 (D1), officer_p (province)
    assert OWN[kind] in _list(app, db, world, "focal_a")
    about = ABOUT[kind].format(name=person.full_name)
    for officer in ("officer_d1", "officer_p"):
        assert about in _list(app, db, world, officer)
    after = {n: notifications.unread_count(db, _user(db, world, n)) for n in world.people}
    assert {n for n in world.people if after[n] != before[n]} == {
        "focal_a",
        "officer_d1",
        "officer_p",
    }
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
    assert sent == 4 == len(inbox.messages)  # two notices each to focal_a and officer_d1
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
