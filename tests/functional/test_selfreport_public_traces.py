"""What a reporter leaves behind besides the sealed report (review r1, findings 4a-4d): the
notices of a report, the throttle counters and the sealed photo files hold the day or a window
boundary, never the moment the pupil pressed Send, and the counters vanish once their window is
over; reading a counter (following one's report with the right code) writes nothing."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from caseapp.clock import local_today, start_of_local_day
from caseapp.models import SelfReportPhoto, SignInThrottle
from caseapp.models.steps import Notification
from caseapp.runtime import keyring, settings
from caseapp.security.crypto import keyed_hash
from caseapp.services.selfreports import routing, throttle
from tests.functional.selfreport_support import (
    ADDRESS,
    code_of,
    env,
    gps_jpeg,
    latest_report,
    open_report,
    send_report,
    token_of,
)

pytestmark = pytest.mark.usefixtures("clean_store")
WRONG = "1111 2222 3333 4444"


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _start_of_today() -> datetime:
    return _utc(start_of_local_day(local_today()))


def _row(db, scope: str, value: str) -> SignInThrottle | None:
    db.expire_all()
    key = keyed_hash(keyring().active("blind_index").secret, f"throttle|{scope}|{value}")
    return db.scalar(
        select(SignInThrottle).where(SignInThrottle.scope == scope, SignInThrottle.key_hash == key)
    )


def _on_a_boundary(value: datetime, seconds: int) -> bool:
    return int(_utc(value).timestamp()) % seconds == 0 and _utc(value).microsecond == 0


def _later(monkeypatch, delta: timedelta) -> None:
    """The throttles' clock moved on by ``delta``."""
    moment = datetime.now(UTC) + delta
    monkeypatch.setattr(throttle, "utcnow", lambda: moment)


# 4a: notices


def test_the_notices_of_a_report_give_the_day_not_the_minute(client, db, world):
    assert send_report(client, "SCH-A").status_code == 200
    assert send_report(client, "SCH-B", ip="10.70.0.2", danger="yes").status_code == 200
    db.expire_all()
    notices = db.scalars(
        select(Notification).where(
            Notification.kind.in_([routing.NOTICE_KIND, routing.DANGER_NOTICE_KIND])
        )
    ).all()
    assert {n.kind for n in notices} == {routing.NOTICE_KIND, routing.DANGER_NOTICE_KIND}
    for notice in notices:
        assert _utc(notice.created_at) == _start_of_today(), notice.created_at


def test_a_message_notice_is_day_only_and_an_escalation_keeps_its_time(client, db, world):
    """A reporter's new message pages at the start of the day; an escalation (the system's
    action, not the reporter's) keeps its own time."""
    from caseapp.services.selfreports import escalation, follow

    assert send_report(client, "SCH-A").status_code == 200
    report = latest_report(db)
    follow.add_message(db, report, "Em vẫn bị bắt nạt.", [], address="10.70.0.9")
    db.flush()
    messages = db.scalars(
        select(Notification).where(Notification.kind == routing.MESSAGE_NOTICE_KIND)
    ).all()
    assert messages
    for notice in messages:
        assert _utc(notice.created_at) == _start_of_today()
    assert report.due_at is not None
    escalation.escalate_unseen(db, now=_utc(report.due_at) + timedelta(minutes=1))
    db.flush()
    escalated = db.scalars(
        select(Notification).where(Notification.kind == routing.ESCALATED_NOTICE_KIND)
    ).all()
    assert escalated
    for notice in escalated:
        assert _utc(notice.created_at) > _start_of_today()
    assert routing.notice_day() == start_of_local_day(local_today())


# 4b / 4c: throttle counters


def test_the_report_counter_holds_a_window_boundary_and_vanishes_after_it(client, db, monkeypatch):
    assert send_report(client, "SCH-A").status_code == 200
    row = _row(db, throttle.REPORT_ADDRESS, ADDRESS)
    assert row is not None and row.failures == 1
    window = settings().selfreport_report_window_seconds
    assert _on_a_boundary(row.window_start, window), row.window_start
    assert (
        _utc(row.window_start)
        <= datetime.now(UTC)
        < _utc(row.window_start) + timedelta(seconds=window)
    )
    # A sign-in counter of the same age is none of the self-reports' business.
    old = datetime.now(UTC) - timedelta(days=3)
    db.add(SignInThrottle(scope="address", key_hash="f3-signin-kept", failures=2, window_start=old))
    db.commit()

    _later(monkeypatch, timedelta(seconds=window + 1))
    assert send_report(client, "SCH-A", ip="10.70.1.1").status_code == 200
    assert _row(db, throttle.REPORT_ADDRESS, ADDRESS) is None, "an expired counter stayed"
    kept = db.scalar(select(SignInThrottle).where(SignInThrottle.key_hash == "f3-signin-kept"))
    assert kept is not None and kept.failures == 2


def test_following_with_the_right_code_leaves_no_row(client, db):
    code = code_of(send_report(client, "SCH-A"))
    db.expire_all()
    before = db.scalar(select(func.count()).select_from(SignInThrottle))
    page = open_report(client, code, ip="10.66.66.66")
    assert "Đã nhận" in page.get_data(as_text=True)
    assert _row(db, throttle.GUESS_ADDRESS, "10.66.66.66") is None
    assert _row(db, throttle.GUESS_ALL, throttle.EVERYONE) is None
    assert db.scalar(select(func.count()).select_from(SignInThrottle)) == before


def test_a_wrong_code_counts_in_a_quarter_hour_window_that_ends(app, client, db, monkeypatch):
    open_report(client, WRONG, ip="10.66.0.9")
    window = settings().selfreport_guess_window_seconds
    for scope, value in (
        (throttle.GUESS_ADDRESS, "10.66.0.9"),
        (throttle.GUESS_ALL, throttle.EVERYONE),
    ):
        row = _row(db, scope, value)
        assert row is not None and row.failures == 1
        assert _on_a_boundary(row.window_start, window), row.window_start

    # Blocked within the window, free in the next one (a fresh count, the old row gone).
    limit = settings().selfreport_guesses_per_address
    for _ in range(limit):
        open_report(client, WRONG, ip="10.66.0.10")
    code = code_of(send_report(client, "SCH-A", ip="10.66.0.11"))
    assert "Đã nhận" not in open_report(client, code, ip="10.66.0.10").get_data(as_text=True)
    _later(monkeypatch, timedelta(seconds=window))
    assert "Đã nhận" in open_report(client, code, ip="10.66.0.10").get_data(as_text=True)
    open_report(client, WRONG, ip="10.66.0.12")  # a count: the expired rows are purged
    assert _row(db, throttle.GUESS_ADDRESS, "10.66.0.10") is None
    assert _row(db, throttle.GUESS_ADDRESS, "10.66.0.9") is None


def test_the_purge_is_bounded(client, db, monkeypatch):
    throttle.purge_expired(db, limit=100_000)
    old = datetime.now(UTC) - timedelta(days=1)
    for i in range(5):
        db.add(
            SignInThrottle(
                scope=throttle.REPORT_ADDRESS, key_hash=f"f3-old-{i}", failures=1, window_start=old
            )
        )
    db.flush()
    assert throttle.purge_expired(db, limit=3) == 3
    assert throttle.purge_expired(db, limit=3) == 2
    assert throttle.purge_expired(db) == 0


def test_the_periodic_job_forgets_counters_whose_window_is_over(app, db):
    """Rows go even when nobody reports or guesses again (notify send-due purges them)."""
    old = datetime.now(UTC) - timedelta(days=1)
    db.add(
        SignInThrottle(
            scope=throttle.GUESS_ADDRESS, key_hash="lead-old-1", failures=1, window_start=old
        )
    )
    db.commit()
    result = app.test_cli_runner().invoke(args=["notify", "send-due"])
    assert result.exit_code == 0, result.output
    db.expire_all()
    assert db.scalar(select(SignInThrottle).where(SignInThrottle.key_hash == "lead-old-1")) is None


# 4d: photo files


def _mtime(photo: SelfReportPhoto) -> datetime:
    stat = os.stat(settings().attachment_dir / photo.storage_name)
    return datetime.fromtimestamp(stat.st_mtime, UTC)


def test_the_sealed_photo_files_carry_the_day_only(client, db):
    code = code_of(send_report(client, "SCH-A", photos=[gps_jpeg((50, 50))]))
    token = token_of(open_report(client, code))
    sent = client.post(
        "/r/follow/message",
        data={"token": token, "message": "Ảnh nữa", "photos": [(io.BytesIO(gps_jpeg()), "a.jpg")]},
        content_type="multipart/form-data",
        environ_base=env(),
    )
    assert sent.status_code == 200
    report = latest_report(db)
    photos = db.scalars(select(SelfReportPhoto).where(SelfReportPhoto.report_id == report.id)).all()
    assert len(photos) == 2 and any(p.message_id for p in photos)
    for photo in photos:
        assert _mtime(photo) == _start_of_today(), _mtime(photo)
