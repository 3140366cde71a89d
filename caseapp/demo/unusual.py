"""Demo audit trail for the auditor's attention view: a few unusual reads among the ordinary
seeded work (a burst above the ceiling, a read at night, a read of another school's case
outside any workflow step), then a signed checkpoint as the daily scheduler would make.

Seed data only (seed-demo is refused in production). The reads are written in the shape
services/cases/content.open_content gives them; nobody decrypts anything here."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from caseapp.clock import local_today, zone
from caseapp.models import AuditEvent, Case, Unit, User
from caseapp.runtime import keyring, settings
from caseapp.security.audit_chain import CHAINED_FIELDS, chain_hash
from caseapp.services.audit import integrity
from caseapp.services.cases.content import audit_read
from caseapp.services.org import units

if TYPE_CHECKING:
    from collections.abc import Callable

# An officer of the ward of Đông Hà who is a teacher of THCS Nguyễn Trãi (their home unit):
# reading a case of another school, with no step on it, is what the view points out.
SECONDED = ("canbo.kiemnhiem", "Trần Quốc Bảo", "DH-THCSNT", "QT-PDH")
BURST_BY, NIGHT_BY = "canbo.qt-pdh", "canbo.qt-xvl"
BURST_REASON = "Rà soát hồ sơ theo yêu cầu"
NIGHT_REASON = "Xem lại tình hình của em"
OTHER_REASON = "Tham khảo cách xử lý"


def seed_unusual_reads(session: Session, make_account: Callable[..., dict]) -> dict:
    """Add the unusual reads and sign a checkpoint; returns the seconded officer's credentials
    entry (``make_account`` is the seed's account maker)."""
    home = units.unit_by_code(session, SECONDED[2])
    office = units.unit_by_code(session, SECONDED[3])
    assert home is not None and office is not None
    account = make_account(session, SECONDED[0], SECONDED[1], home, [("officer", office)])
    session.flush()
    burst_by, night_by, seconded = (_user(session, n) for n in (BURST_BY, NIGHT_BY, SECONDED[0]))
    dong_ha = _cases_below(session, office)
    if dong_ha:
        # More reads in one day than the ceiling allows, by one officer.
        for n in range(settings().attention_read_ceiling + 5):
            audit_read(session, burst_by, dong_ha[n % len(dong_ha)], BURST_REASON)
        others = [c for c in dong_ha if c.unit_id != home.id]
        if others:
            audit_read(session, seconded, others[0], OTHER_REASON)
    vinh_linh = units.unit_by_code(session, "QT-XVL")
    night_cases = _cases_below(session, vinh_linh) if vinh_linh is not None else []
    if night_cases:
        last_night = datetime.combine(local_today() - timedelta(days=1), time(23, 40), zone())
        _backdate(session, audit_read(session, night_by, night_cases[0], NIGHT_REASON), last_night)
    integrity.checkpoint(session, None, keyring())
    return account


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    assert user is not None, username
    return user


def _cases_below(session: Session, unit: Unit) -> list[Case]:
    return list(
        session.scalars(
            select(Case)
            .join(Unit, Unit.id == Case.unit_id)
            .where(Unit.path.startswith(unit.path))
            .order_by(Case.id)
            .limit(40)
        )
    )


def _backdate(session: Session, event: AuditEvent, when: datetime) -> None:
    """Give a seeded event, not yet written, an earlier time. The chain covers ``at``, so the
    event is sealed again and becomes the head the next event links to (record() keeps the
    head in session.info). The trail stays verifiable; only demo data is ever backdated."""
    event.at = when.astimezone(UTC)  # stored as UTC, as record() stores it
    event.hash = chain_hash(
        keyring().get(event.key_id).secret,
        event.prev_hash,
        {name: getattr(event, name) for name in CHAINED_FIELDS},
    )
    session.info["audit_head"] = (event.seq, event.hash)
