"""The auditor's attention list: what to look at, computed from the audit trail alone (never
case content), with the reviews auditors have written.

Each rule reads a bounded window of the trail (by default the last 30 days; the 90-day norms
and pairs look further back) with SQL filters and aggregates; Python only groups the rows the
rules flagged. An item has a stable key, so a review written about it sticks."""

from __future__ import annotations

from datetime import date, datetime

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from caseapp.errors import NotFound, ValidationFailed
from caseapp.limits import REASON_MAX
from caseapp.models import User
from caseapp.models.approvals import AttentionReview
from caseapp.services.audit.attention import accounts, chain, reads
from caseapp.services.audit.attention.item import SEVERITIES, Item, explain
from caseapp.services.audit.attention.window import default_since, window
from caseapp.services.audit.trail import record

__all__ = [
    "SEVERITIES",
    "Item",
    "default_since",
    "explain",
    "items",
    "mark_reviewed",
    "parse_since",
    "unreviewed_high",
]
RULES = (
    reads.volume,
    reads.other_school,
    reads.off_hours,
    accounts.after_change,
    accounts.pairs,
    reads.excluded_reads,
    accounts.resets,
    accounts.separation,
    chain.chain,
)


def parse_since(text: str) -> date:
    """A date typed as dd/mm/yyyy or yyyy-mm-dd; ValidationFailed otherwise."""
    text = (text or "").strip()
    for fmt in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            day = datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        if day.year >= 1945:
            return day
    raise ValidationFailed(_("Give the date as dd/mm/yyyy."))


def items(
    session: Session,
    auditor: User | None,
    since: date | None = None,
    now: datetime | None = None,
) -> list[Item]:
    """Every item of the window, most severe and newest first, with its review if any.
    ``auditor`` None: the whole trail (the operator's command); else their units only, and
    nothing by or about them."""
    w = window(session, auditor, since, now)
    found: list[Item] = []
    for rule in RULES:
        found.extend(rule(w))
    if auditor is not None:
        found = [
            i
            for i in found
            if i.who_id != auditor.id and auditor.id not in i.details.get("about_ids", ())
        ]
    keys = [i.key for i in found]
    reviews = {}
    for chunk in range(0, len(keys), 500):
        reviews.update(
            {
                r.item_key: r
                for r in session.scalars(
                    select(AttentionReview).where(
                        AttentionReview.item_key.in_(keys[chunk : chunk + 500])
                    )
                )
            }
        )
    reviewers = {r.reviewed_by_id for r in reviews.values()} - {None}
    names = dict(
        session.execute(select(User.id, User.username).where(User.id.in_(reviewers))).all()
        if reviewers
        else []
    )
    for item in found:
        item.review = reviews.get(item.key)
        if item.review is not None:
            item.reviewer = names.get(item.review.reviewed_by_id or 0, "")
    found.sort(key=lambda i: i.at, reverse=True)
    found.sort(key=lambda i: SEVERITIES.index(i.severity))
    return found


def unreviewed_high(found: list[Item]) -> list[Item]:
    return [i for i in found if i.severity == "high" and not i.reviewed]


def mark_reviewed(
    session: Session, auditor: User, key: str, note: str, since: date | None = None
) -> AttentionReview:
    """The auditor marks an item of their own list reviewed, with a note (audited)."""
    note = (note or "").strip()
    if not note:
        raise ValidationFailed(_("Please write a note."))
    if len(note) > REASON_MAX:
        raise ValidationFailed(_("The note is too long."))
    item = next((i for i in items(session, auditor, since) if i.key == key), None)
    if item is None:
        raise NotFound()
    if item.review is not None:
        raise ValidationFailed(_("This item has already been reviewed."))
    review = AttentionReview(item_key=key, reviewed_by_id=auditor.id, note=note)
    session.add(review)
    record(
        session,
        auditor,
        "audit.attention_reviewed",
        review,
        object_type="attention_reviews",
        object_ref=key[:64],
        changes={"item": key, "kind": item.kind, "severity": item.severity, "events": item.seqs},
        reason=note,
    )
    return review
