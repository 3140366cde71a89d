"""Rules about changes to who may read: reads soon after a change of access, the same pair
approving repeatedly, each sign-in reset, administration held with a content role or auditing."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import exists, func, select
from sqlalchemy.orm import aliased

from caseapp.clock import zone
from caseapp.models import AuditEvent, Grant, User
from caseapp.runtime import settings
from caseapp.security.authz import scope_paths
from caseapp.services.audit.attention.item import CHANGES, Item
from caseapp.services.audit.attention.window import (
    SEQS_KEPT,
    Window,
    aware,
    day_filter,
    evidence_of,
    reads,
    seqs_of,
)

PAIR_KINDS = ("grant", "credential_reset", "new_account")
CONTENT_OR_AUDIT = ("focal_point", "officer", "auditor")
NORM_DAYS = 90
AFTER_HOURS = 24


def subject_of(ev: AuditEvent) -> str:
    try:
        changes = json.loads(ev.changes or "{}")
    except ValueError:
        changes = {}
    user = changes.get("user") if isinstance(changes, dict) else None
    return str(user) if user else ev.object_ref


def after_change(w: Window) -> list[Item]:
    """Reads by a person within 24 hours after a grant, a sign-in reset, an enrolment or a
    lifted exclusion concerning them (changes made by a person; the operator's shell sets up)."""
    changes = list(
        w.session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.action.in_(CHANGES),
                AuditEvent.actor_id.is_not(None),
                AuditEvent.at >= w.start - timedelta(hours=AFTER_HOURS),
                *w.scope(AuditEvent),
            )
            .order_by(AuditEvent.seq)
        )
    )
    by_subject: dict[str, list[AuditEvent]] = defaultdict(list)
    for ev in changes:
        by_subject[subject_of(ev)].append(ev)
    ids = dict(
        w.session.execute(
            select(User.username, User.id).where(User.username.in_(list(by_subject)))
        ).all()
    )
    found = []
    for username, evs in by_subject.items():
        user_id = ids.get(username)
        if user_id is None:
            continue
        # Changes whose 24 hours overlap make one stretch: one item.
        stretches: list[list[AuditEvent]] = []
        for ev in evs:
            if stretches and aware(ev.at) <= aware(stretches[-1][-1].at) + timedelta(
                hours=AFTER_HOURS
            ):
                stretches[-1].append(ev)
            else:
                stretches.append([ev])
        for stretch in stretches:
            begin = aware(stretch[0].at)
            end = aware(stretch[-1].at) + timedelta(hours=AFTER_HOURS)
            conditions = (
                reads(AuditEvent),
                AuditEvent.actor_id == user_id,
                AuditEvent.seq > stretch[0].seq,
                AuditEvent.at >= max(begin, w.start),
                AuditEvent.at <= end,
            )
            n, reads_at, last, total = w.session.execute(
                select(
                    func.count(),
                    func.max(AuditEvent.at),
                    func.max(AuditEvent.seq),
                    func.sum(AuditEvent.seq),
                ).where(*conditions, *w.scope(AuditEvent))
            ).one()
            if not n:
                continue
            seqs = seqs_of(w, *conditions)
            local = begin.astimezone(zone()).date()
            found.append(
                Item(
                    key=f"after_change:{user_id}:{stretch[0].seq}",
                    kind="after_change",
                    severity="medium",
                    at=aware(reads_at),
                    who=username,
                    who_id=user_id,
                    seqs=[e.seq for e in stretch] + seqs,
                    count=n,
                    details={"changes": sorted({e.action for e in stretch})},
                    # The changes and the reads after them.
                    evidence=(
                        len(stretch) + n,
                        max(stretch[-1].seq, int(last)),
                        sum(e.seq for e in stretch) + int(total),
                    ),
                    events_filter={
                        "actor": username,
                        "date_from": local.isoformat(),
                        "date_to": end.astimezone(zone()).date().isoformat(),
                    },
                )
            )
    return found


def pairs(w: Window) -> list[Item]:
    """The same requester and approver pair approving grants, resets or new accounts
    repeatedly (``attention_pair_repeats`` or more within 90 days)."""
    repeats = settings().attention_pair_repeats
    approvals = list(
        w.session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.action == "approval.approve",
                AuditEvent.at >= w.start - timedelta(days=NORM_DAYS),
                *w.scope(AuditEvent),
            )
            .order_by(AuditEvent.seq)
        )
    )
    pairs: dict[tuple[str, str], list[AuditEvent]] = defaultdict(list)
    about: dict[tuple[str, str], int | None] = {}
    for ev in approvals:
        try:
            changes = json.loads(ev.changes or "{}")
        except ValueError:
            continue
        if not isinstance(changes, dict) or changes.get("kind") not in PAIR_KINDS:
            continue
        requester = str(changes.get("requested_by") or "")
        if not requester:
            continue
        pairs[(requester, ev.actor_name)].append(ev)
        about[(requester, ev.actor_name)] = ev.actor_id
    requester_ids = dict(
        w.session.execute(
            select(User.username, User.id).where(User.username.in_([p[0] for p in pairs]))
        ).all()
    )
    found = []
    for (requester, approver), evs in pairs.items():
        last_flagged = None
        for i, ev in enumerate(evs):
            if aware(ev.at) < w.start:
                continue
            recent = [e for e in evs[: i + 1] if aware(e.at) > aware(ev.at) - timedelta(NORM_DAYS)]
            if len(recent) >= repeats:
                last_flagged = recent
        if last_flagged is None:
            continue
        last = last_flagged[-1]
        found.append(
            Item(
                # Ids keep the key short (user names may be long); the seq of the last
                # approval makes a new approval by the pair a new item.
                key=f"pair:{requester_ids.get(requester, requester[:40])}:"
                f"{about[(requester, approver)]}:{last.seq}",
                kind="pair",
                severity="medium",
                at=aware(last.at),
                who=approver,
                who_id=about[(requester, approver)],
                seqs=[e.seq for e in last_flagged][:SEQS_KEPT],
                count=len(last_flagged),
                evidence=evidence_of([e.seq for e in last_flagged]),
                details={
                    "requester": requester,
                    "approver": approver,
                    "about_ids": [requester_ids.get(requester)],
                },
                events_filter={"actor": approver, "action": "approval.approve"},
            )
        )
    return found


def resets(w: Window) -> list[Item]:
    """Each sign-in reset, so that an auditor sees every one (low)."""
    rows = w.session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.action == "auth.credential_reset",
            AuditEvent.at >= w.start,
            *w.scope(AuditEvent),
        )
        .order_by(AuditEvent.seq)
    ).all()
    subjects = {subject_of(ev) for ev in rows}
    ids = dict(
        w.session.execute(select(User.username, User.id).where(User.username.in_(subjects))).all()
    )
    found = []
    for ev in rows:
        subject = subject_of(ev)
        day = aware(ev.at).astimezone(zone()).date()
        found.append(
            Item(
                key=f"reset:{ev.seq}",
                kind="reset",
                severity="low",
                at=aware(ev.at),
                who=subject,
                who_id=ids.get(subject),
                seqs=[ev.seq],
                count=1,
                details={"approver": ev.actor_name, "about_ids": [ev.actor_id]},
                events_filter={"action": "auth.credential_reset", **day_filter(day)},
            )
        )
    return found


def separation(w: Window) -> list[Item]:
    """Accounts holding administration together with a content role or auditing (high)."""
    other = aliased(Grant)
    admins = aliased(Grant)
    held = select(Grant.user_id).where(
        Grant.revoked_at.is_(None),
        exists().where(
            admins.user_id == Grant.user_id, admins.role == "admin", admins.revoked_at.is_(None)
        ),
        exists().where(
            other.user_id == Grant.user_id,
            other.role.in_(CONTENT_OR_AUDIT),
            other.revoked_at.is_(None),
        ),
    )
    grants = list(
        w.session.scalars(
            select(Grant)
            .where(Grant.user_id.in_(held), Grant.revoked_at.is_(None))
            .order_by(Grant.user_id, Grant.id)
        )
    )
    by_user: dict[int, list[Grant]] = defaultdict(list)
    for g in grants:
        by_user[g.user_id].append(g)
    paths = scope_paths(w.auditor, "audit.read") if w.auditor is not None else None
    from caseapp.labels import role_names

    names = role_names()
    found = []
    for user_id, held_grants in by_user.items():
        if paths is not None and not any(
            g.unit.path.startswith(p) for g in held_grants for p in paths
        ):
            continue
        ids = [g.id for g in held_grants]
        seqs = list(
            w.session.scalars(
                select(AuditEvent.seq)
                .where(
                    AuditEvent.action == "user.grant",
                    AuditEvent.object_type == "grants",
                    AuditEvent.object_id.in_([str(i) for i in ids]),
                )
                .order_by(AuditEvent.seq)
            )
        )
        user = held_grants[0].user
        found.append(
            Item(
                key=f"separation:{user_id}:{'-'.join(str(i) for i in ids)}",
                kind="separation",
                severity="high",
                at=max(aware(g.granted_at) for g in held_grants),
                who=user.username,
                who_id=user_id,
                seqs=seqs,
                count=len(held_grants),
                details={
                    "roles": sorted(
                        {
                            f"{names.get(g.role, g.role)} @ {g.unit.code}"
                            for g in held_grants
                            if g.role != "admin"
                        }
                    )
                },
                events_filter={"action": "user.grant"},
            )
        )
    return found
