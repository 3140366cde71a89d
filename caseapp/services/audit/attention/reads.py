"""Rules about reads of confidential content: volume against a ceiling and one's own norm,
another school outside the workflow, night and holidays, reads while excluded."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime, timedelta

from sqlalchemy import Row, and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from caseapp.clock import start_of_local_day, zone
from caseapp.models import AuditEvent, Holiday, Unit, User
from caseapp.runtime import settings
from caseapp.services.audit.attention.item import Item
from caseapp.services.audit.attention.window import (
    SEQS_KEPT,
    Window,
    as_date,
    aware,
    day_filter,
    evidence_of,
    reads,
)

# What a person does on a case while working it: a read the same day is part of the work.
WORKFLOW = ("step.add", "step.complete", "note.add", "case.transition", "case.assign")
NIGHT_FROM, NIGHT_TO = 22, 6  # local hours: 22:00 to 06:00
NORM_DAYS = 90


def volume(w: Window) -> list[Item]:
    """Reads by one person in a day above the ceiling, or above their own 90-day norm."""
    s = settings()
    first = w.start - timedelta(days=NORM_DAYS)
    daily = (
        select(
            AuditEvent.actor_id.label("actor_id"),
            AuditEvent.actor_name.label("actor_name"),
            AuditEvent.seq.label("seq"),
            AuditEvent.at.label("at"),
            w.day(AuditEvent.at).label("day"),
        )
        .where(reads(AuditEvent), AuditEvent.at >= first, *w.scope(AuditEvent))
        .subquery()
    )
    rows = w.session.execute(
        select(
            daily.c.actor_id,
            daily.c.day,
            func.count(),
            func.max(daily.c.at),
            func.max(daily.c.actor_name),
            func.max(daily.c.seq),
            func.sum(daily.c.seq),
        ).group_by(daily.c.actor_id, daily.c.day)
    ).all()
    by_person: dict[int, dict[date, int]] = defaultdict(dict)
    for actor_id, day, n, *_rest in rows:
        by_person[actor_id][as_date(day)] = n
    found = []
    for actor_id, day_raw, n, at, name, last, total in rows:
        day = as_date(day_raw)
        if day < w.since:
            continue
        history = [
            c for d, c in by_person[actor_id].items() if day - timedelta(NORM_DAYS) <= d < day
        ]
        norm = sum(history) / len(history) if history else 0.0
        if n > s.attention_read_ceiling:
            kind, severity = "ceiling", "high"
        elif n >= s.attention_norm_minimum and n > s.attention_norm_factor * norm:
            kind, severity = "norm", "medium"
        else:
            continue
        found.append(
            Item(
                key=f"volume:{actor_id}:{day.isoformat()}",
                kind=kind,
                severity=severity,
                at=aware(at),
                who=name,
                who_id=actor_id,
                count=n,
                details={"ceiling": s.attention_read_ceiling, "norm": f"{norm:.1f}", "day": day},
                events_filter={"actor": name, **day_filter(day)},
                evidence=(n, int(last), int(total)),
            )
        )
    _fill_seqs(w, found)
    return found


def _fill_seqs(w: Window, found: list[Item]) -> None:
    """The event numbers of each (person, day) item: one query per 100 items."""
    for chunk in range(0, len(found), 100):
        wanted = {(i.who_id, i.details["day"]): i for i in found[chunk : chunk + 100]}
        days = or_(
            *[
                and_(
                    AuditEvent.actor_id == actor_id,
                    AuditEvent.at >= start_of_local_day(day),
                    AuditEvent.at < start_of_local_day(day + timedelta(days=1)),
                )
                for actor_id, day in wanted
            ]
        )
        rows = w.session.execute(
            select(AuditEvent.seq, AuditEvent.actor_id, AuditEvent.at)
            .where(reads(AuditEvent), days, *w.scope(AuditEvent))
            .order_by(AuditEvent.seq)
        )
        for seq, actor_id, at in rows:
            item = wanted.get((actor_id, aware(at).astimezone(zone()).date()))
            if item is not None and len(item.seqs) < SEQS_KEPT:
                item.seqs.append(seq)


def other_school(w: Window) -> list[Item]:
    """Reads of a case outside the reader's own unit (and below), with no workflow step by them
    on that case the same day."""
    r, home = aliased(AuditEvent), aliased(Unit)
    # The (person, case, day) triples of workflow work in the window, joined (not correlated:
    # SQLite would recompute it for every read) to the reads; a read without one is listed.
    worked = (
        select(
            AuditEvent.actor_id.label("actor_id"),
            AuditEvent.object_ref.label("object_ref"),
            w.day(AuditEvent.at).label("day"),
        )
        .where(AuditEvent.action.in_(WORKFLOW), AuditEvent.at >= w.start - timedelta(days=1))
        .distinct()
        .subquery()
    )
    read_day = w.day(r.at)
    rows = w.session.execute(
        select(r.seq, r.actor_id, r.actor_name, r.object_ref, r.unit_id, r.at, read_day)
        .join(User, User.id == r.actor_id)
        .join(home, home.id == User.unit_id)
        .outerjoin(
            worked,
            and_(
                worked.c.actor_id == r.actor_id,
                worked.c.object_ref == r.object_ref,
                worked.c.day == read_day,
            ),
        )
        .where(
            reads(r),
            r.at >= w.start,
            r.unit_path != "",
            r.object_ref != "",
            ~r.unit_path.startswith(home.path),
            worked.c.actor_id.is_(None),
            *w.scope(r),
        )
        .order_by(r.seq)
    ).all()
    groups: dict[tuple, list] = defaultdict(list)
    for row in rows:
        groups[(row.actor_id, row.object_ref, as_date(row[6]))].append(row)
    units = unit_codes(w.session, {rows[0].unit_id for rows in groups.values()})
    found = []
    for (actor_id, ref, day), rows_ in groups.items():
        found.append(
            Item(
                key=f"other_school:{actor_id}:{ref}:{day.isoformat()}",
                kind="other_school",
                severity="medium",
                at=aware(rows_[-1].at),
                who=rows_[-1].actor_name,
                who_id=actor_id,
                seqs=[x.seq for x in rows_][:SEQS_KEPT],
                count=len(rows_),
                details={"ref": ref, "unit": units.get(rows_[0].unit_id, "")},
                events_filter={"actor": rows_[-1].actor_name, "reference": ref, **day_filter(day)},
                evidence=evidence_of([x.seq for x in rows_]),
            )
        )
    return found


def unit_codes(session: Session, ids: set) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return dict(session.execute(select(Unit.id, Unit.code).where(Unit.id.in_(ids))).all())


def holidays_between(session: Session, first: date, last: date) -> dict[date, str]:
    """{day: name} of the holidays the admin keeps (Holiday rows) from ``first`` to ``last``:
    one query for the window."""
    return dict(
        session.execute(
            select(Holiday.day, Holiday.name).where(Holiday.day.between(first, last))
        ).all()
    )


def off_hours(w: Window) -> list[Item]:
    """Reads at night (22:00-06:00 local) or on a public holiday, one item per person and night
    (the night of a day runs to 06:00 the next morning) or holiday."""
    hour = w.hour(AuditEvent.at)
    holidays = holidays_between(
        w.session, w.since - timedelta(days=1), (w.now + timedelta(days=1)).date()
    )
    day = w.day(AuditEvent.at)
    # PostgreSQL compares dates, SQLite the ISO text its date() returns.
    on_holiday = day.in_(
        list(holidays) if w.dialect == "postgresql" else [str(d) for d in holidays]
    )
    at_night = or_(hour >= NIGHT_FROM, hour < NIGHT_TO)
    rows = w.session.execute(
        select(
            AuditEvent.seq,
            AuditEvent.actor_id,
            AuditEvent.actor_name,
            AuditEvent.at,
            at_night.label("night"),
            day.label("day"),
            w.day(AuditEvent.at, shift_hours=-NIGHT_TO).label("night_of"),
        )
        .where(
            reads(AuditEvent),
            AuditEvent.at >= w.start,
            or_(at_night, on_holiday) if holidays else at_night,
            *w.scope(AuditEvent),
        )
        .order_by(AuditEvent.seq)
    ).all()
    groups: dict[tuple, list] = defaultdict(list)
    for row in rows:
        if row.night:
            groups[("night", row.actor_id, as_date(row.night_of))].append(row)
        else:
            groups[("holiday", row.actor_id, as_date(row.day))].append(row)
    found = []
    for (kind, actor_id, day), rows_ in groups.items():
        last = rows_[-1]
        first_day = aware(rows_[0].at).astimezone(zone()).date()
        last_day = aware(last.at).astimezone(zone()).date()
        found.append(
            Item(
                key=f"{kind}:{actor_id}:{day.isoformat()}",
                kind=kind,
                severity="medium" if kind == "night" else "low",
                at=aware(last.at),
                who=last.actor_name,
                who_id=actor_id,
                seqs=[x.seq for x in rows_][:SEQS_KEPT],
                count=len(rows_),
                details={"holiday": holidays.get(day, "")},
                evidence=evidence_of([x.seq for x in rows_]),
                events_filter={
                    "actor": last.actor_name,
                    "date_from": first_day.isoformat(),
                    "date_to": last_day.isoformat(),
                },
            )
        )
    return found


# References asked at a time (a statement's parameters stay well under SQLite's limit).
IN_CHUNK = 500


def excluded_reads(w: Window) -> list[Item]:
    """A read of a case by a person excluded from it (no lift between): always high.

    Read from the window's side: first the reads of the window (in the auditor's view) of a
    case that has an exclusion recorded before them, then the exclusions and lifts of those
    cases only, paired into spans per person. It read every exclusion of the trail and sent a
    statement per span, whatever the window (issue 16: exclusions build up with the cases)."""
    excluded_before = aliased(AuditEvent)
    candidates = w.session.execute(
        select(AuditEvent.seq, AuditEvent.at, AuditEvent.object_ref, AuditEvent.actor_id)
        .where(
            reads(AuditEvent),
            AuditEvent.at >= w.start,
            AuditEvent.object_ref != "",
            select(excluded_before.seq)
            .where(
                excluded_before.object_ref == AuditEvent.object_ref,
                excluded_before.action == "case.exclude",
                excluded_before.seq < AuditEvent.seq,
            )
            .exists(),
            *w.scope(AuditEvent),
        )
        .order_by(AuditEvent.seq)
    ).all()
    if not candidates:
        return []
    refs = sorted({ref for _seq, _at, ref, _actor in candidates})
    events: list[Row[int, str, str, str]] = []
    for i in range(0, len(refs), IN_CHUNK):
        events += w.session.execute(
            select(AuditEvent.seq, AuditEvent.action, AuditEvent.object_ref, AuditEvent.changes)
            .where(
                AuditEvent.action.in_(("case.exclude", "case.exclusion_lift")),
                AuditEvent.object_ref.in_(refs[i : i + IN_CHUNK]),
            )
            .order_by(AuditEvent.seq)
        ).all()
    events.sort(key=lambda event: event[0])
    open_: dict[tuple[str, str], int] = {}
    spans: list[tuple[str, str, int, int | None]] = []
    for seq, action, ref, raw in events:
        try:
            user = json.loads(raw or "{}").get("user")
        except (ValueError, AttributeError):
            user = None
        if not user or not ref:
            continue
        if action == "case.exclude":
            open_.setdefault((ref, user), seq)
        elif (ref, user) in open_:
            spans.append((ref, user, open_.pop((ref, user)), seq))
    spans.extend((ref, user, start, None) for (ref, user), start in open_.items())
    if not spans:
        return []
    ids = dict(
        w.session.execute(
            select(User.username, User.id).where(User.username.in_({s[1] for s in spans}))
        ).all()
    )
    reads_of: dict[tuple[str, int | None], list[tuple[int, datetime]]] = defaultdict(list)
    for read_seq, read_at, ref, actor in candidates:
        reads_of[(ref, actor)].append((read_seq, read_at))
    found = []
    for ref, user, start, end in spans:
        if user not in ids:
            continue
        for seq, at in reads_of.get((ref, ids[user]), ()):
            if seq <= start or (end is not None and seq >= end):
                continue
            found.append(
                Item(
                    key=f"excluded:{seq}",
                    kind="excluded",
                    severity="high",
                    at=aware(at),
                    who=user,
                    who_id=ids[user],
                    seqs=[start, seq],
                    count=1,
                    details={"ref": ref},
                    events_filter={"reference": ref},
                )
            )
    return found
