"""Notifications: in-app notices, and e-mails that never identify anyone ("a case at your unit
needs attention" and a link). Deduplicated by key, so a reminder is never sent twice."""

from __future__ import annotations

import smtplib
from datetime import datetime
from email.message import EmailMessage
from typing import Any, cast

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import CursorResult, Select, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from caseapp.db import utcnow
from caseapp.models import Case, CaseExclusion, Notification, Unit, User
from caseapp.runtime import settings
from caseapp.services.accounts.notices import ACCOUNT_KINDS, subject_of
from caseapp.services.cases.access import visible_cases


def _users_with_role_above(session: Session, case: Case, role: str) -> list[User]:
    """Active users holding ``role`` at the case's school or a unit above it, not excluded."""
    from caseapp.services.cases.access import people_covering

    return list(session.scalars(people_covering(case, (role,))))


def add_notice(
    session: Session,
    user: User,
    case: Case | None,
    kind: str,
    key: str,
    created_at: datetime | None = None,
) -> bool:
    """Add one notice unless its key exists already (idempotent). ``created_at``: the time
    the notice shows (default now); a self-reporter's notices give the start of the day only."""
    full_key = f"{key}:{user.id}"[:120]
    if session.scalar(select(Notification.id).where(Notification.dedupe_key == full_key)):
        return False
    try:
        with session.begin_nested():
            session.add(
                Notification(
                    user_id=user.id,
                    case_id=case.id if case else None,
                    kind=kind,
                    dedupe_key=full_key,
                    **({"created_at": created_at} if created_at is not None else {}),
                )
            )
    except IntegrityError:
        return False  # another process added it first
    return True


def notify_officers(session: Session, case: Case, kind: str, key: str) -> int:
    return sum(
        add_notice(session, u, case, kind, key)
        for u in _users_with_role_above(session, case, "officer")
    )


def notify_handlers(session: Session, case: Case, kind: str, key: str) -> int:
    return sum(
        add_notice(session, u, case, kind, key)
        for u in _users_with_role_above(session, case, "focal_point")
    )


def _shown_to(user: User):
    """The user's notices about no case or about a case they may still see (not one they were
    excluded from, or that left their scope, since the notice was written)."""
    from caseapp.services.cases.access import visible_case

    # One index lookup per notice read: the menu counts a hundred (an IN over every visible
    # case cost ~100 ms on each page at 100,000 cases, bench; a hash of them, 32 ms).
    visible = visible_case(user, Notification.case_id)
    return (Notification.user_id == user.id, or_(Notification.case_id.is_(None), visible))


def for_user(session: Session, user: User, limit: int = 100) -> list[Notification]:
    return list(
        session.scalars(
            select(Notification)
            .where(*_shown_to(user))
            .order_by(Notification.created_at.desc())
            .limit(limit)
        )
    )


def listing(session: Session, user: User, limit: int = 100) -> list[tuple]:
    """(notice, case reference, school name) for the person's own list: they may see those
    cases, so in the app a notice names its case (e-mails never do)."""
    return list(
        session.execute(
            select(Notification, Case.reference, Unit.name)
            .outerjoin(Case, Case.id == Notification.case_id)
            .outerjoin(Unit, Unit.id == Case.unit_id)
            .where(*_shown_to(user))
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(limit)
        )
    )


def mark_all_read(session: Session, user: User) -> int:
    """Mark every unread notice the person can see as read; returns how many."""
    from sqlalchemy import update

    ids = select(Notification.id).where(*_shown_to(user), Notification.read_at.is_(None))
    # An UPDATE's result is a CursorResult (it has the row count).
    result = cast(
        "CursorResult[Any]",
        session.execute(
            update(Notification)
            .where(Notification.id.in_(ids))
            .values(read_at=utcnow())
            .execution_options(synchronize_session=False)
        ),
    )
    return result.rowcount or 0


# The menu's number of unread notices stops here: beyond, it shows "99+". An officer above
# many schools gets an overdue notice for each of their overdue cases (some 150,000 at
# 1,000,000 cases): counted to the last, with a look at each one's case, on every page they
# opened, it took 2.1 s a page (issue 16).
UNREAD_SHOWN = 99


def unread_count_query(user: User) -> Select:
    """SELECT count(*) of the person's unread notices that they may still see, up to
    UNREAD_SHOWN + 1 (read from ix_notifications_user_unread, stopping there)."""
    unread = (
        select(Notification.id)
        .where(*_shown_to(user), Notification.read_at.is_(None))
        .limit(UNREAD_SHOWN + 1)
        .subquery()
    )
    return select(func.count()).select_from(unread)


def unread_count(session: Session, user: User) -> int:
    """The person's unread notices, up to UNREAD_SHOWN + 1."""
    return session.scalar(unread_count_query(user)) or 0


def visible_notice(session: Session, user: User, notification_id: int) -> Notification | None:
    """The person's own notice, if they may still see it."""
    return session.scalar(
        select(Notification).where(Notification.id == notification_id, *_shown_to(user))
    )


def mark_read(session: Session, user: User, notification_id: int) -> Notification | None:
    notice = visible_notice(session, user, notification_id)
    if notice is None:
        return None
    if notice.read_at is None:
        notice.read_at = utcnow()
    return notice


def case_of(session: Session, user: User, notice: Notification) -> str | None:
    """The public id of the case ``notice`` is about, if ``user`` may see it."""
    if notice.case_id is None:
        return None
    return session.scalar(
        visible_cases(user).where(Case.id == notice.case_id).with_only_columns(Case.public_id)
    )


def email_text(notice: Notification, base_url: str, locale: str = "vi") -> tuple[str, str]:
    """Subject and body. Nothing that identifies a person or a case: no name, no reference.
    A notice about an account says only that a change was made to it (the reader's own, or
    one they oversee): not which, not by whom, never a case."""
    with force_locale(locale):
        if notice.kind in ACCOUNT_KINDS and subject_of(notice) == notice.user_id:
            subject = _("Safe schools: a change to your account")
            said = " ".join(
                [
                    _("A change was made to your account."),
                    _("If you did not expect it, tell the officer above you at once."),
                ]
            )
        elif notice.kind in ACCOUNT_KINDS:
            subject = _("Safe schools: a change to an account you oversee")
            said = _("A change was made to an account you oversee.")
        elif notice.kind == "report.due":
            from caseapp.services.equality.reminders import reminder_period, reminder_text

            period = reminder_period(notice)
            subject = _("Safe schools: a period report is due")
            # The period and its due date only: never the unit, a case or a person.
            said = reminder_text(period) + "." if period else _("A period report is due.")
        elif notice.kind in ("self_report", "self_report_danger"):
            # routing.NOTICE_KIND / DANGER_NOTICE_KIND: never the school, the report or anyone.
            subject = _("Safe schools: a new self-report waits at your unit")
            said = _("A new self-report waits at your unit. Sign in and open Self-reports.")
            if notice.kind == "self_report_danger":
                subject = _("Safe schools: a new self-report: someone may be in danger")
                said = " ".join(
                    [said, _("The reporter says someone may be in danger: act within 12 hours.")]
                )
        elif notice.kind == "selfreport_escalated":  # routing.ESCALATED_NOTICE_KIND
            subject = _("Safe schools: a self-report nobody opened in time")
            said = _(
                "A self-report nobody opened in time was handed to your unit. "
                "Sign in and open Self-reports."
            )
        elif notice.kind == "self_report_message":  # routing.MESSAGE_NOTICE_KIND
            subject = _("Safe schools: a reporter wrote a new message")
            said = _("The person who sent a self-report you handle wrote a new message.")
        else:
            subject = _("Safe schools: a case at your unit needs attention")
            said = _("A case at your unit needs your attention.")
        body = "\n".join(
            [
                said,
                "",
                _("Sign in to see it:"),
                f"{base_url.rstrip('/')}/notifications/{notice.id}",
                "",
                _("This message was sent automatically. Do not reply and do not forward it."),
            ]
        )
    return subject, body


def send_pending_emails(session: Session) -> int:
    """E-mail every notice not e-mailed yet to users with an address; returns how many."""
    cfg = settings()
    if not cfg.smtp_host:
        return 0
    pending = session.execute(
        select(Notification, User)
        .join(User, User.id == Notification.user_id)
        .where(
            Notification.emailed_at.is_(None),
            User.email != "",
            User.active.is_(True),
            ~exists(
                select(CaseExclusion.id).where(  # excluded since: not sent
                    CaseExclusion.case_id == Notification.case_id,
                    CaseExclusion.user_id == Notification.user_id,
                )
            ),
        )
        .order_by(Notification.id)
    ).all()
    sent = 0
    if not pending:
        return 0
    with smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=30) as smtp:
        if cfg.smtp_starttls:
            smtp.starttls()
        if cfg.smtp_username:
            smtp.login(cfg.smtp_username, cfg.smtp_password)
        for notice, user in pending:
            subject, body = email_text(notice, cfg.base_url, user.locale or "vi")
            message = EmailMessage()
            message["From"] = cfg.smtp_from
            message["To"] = user.email
            message["Subject"] = subject
            message.set_content(body)
            smtp.send_message(message)
            notice.emailed_at = utcnow()
            session.commit()  # each e-mail is marked sent right after it leaves
            sent += 1
    return sent


def unit_ids(unit: Unit) -> list[int]:
    return [int(p) for p in unit.path.strip("/").split("/")]


def notify_overdue(session: Session, now=None) -> int:
    """One notice per case, clock and due date, to the school's focal points and the officers
    above; running it again adds nothing (keys)."""
    from caseapp.models import CaseStep, CaseTransition
    from caseapp.services.cases.deadlines import overdue_condition, overdue_reasons

    created = 0
    overdue = list(
        session.scalars(select(Case).where(Case.status != "closed", overdue_condition(now)))
    )
    for case in overdue:
        for clock in overdue_reasons(session, case, now):
            marker: object
            if clock == "verification":
                marker = case.verification_due_on
            elif clock == "support":
                marker = case.support_due_on
            elif clock == "step":
                marker = session.scalar(
                    select(func.min(CaseStep.id)).where(
                        CaseStep.case_id == case.id, CaseStep.done_on.is_(None)
                    )
                )
            elif clock == "follow_up":
                marker = session.scalar(
                    select(func.max(CaseTransition.id)).where(CaseTransition.case_id == case.id)
                )
            else:
                marker = "once"
            key = f"overdue:{case.id}:{clock}:{marker}"
            created += notify_handlers(session, case, "overdue", key)
            created += notify_officers(session, case, "overdue", key)
    return created
