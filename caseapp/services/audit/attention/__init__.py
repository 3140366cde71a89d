"""The auditor's attention list: what to look at, computed from the audit trail alone (never
case content), with the reviews auditors have written.

Each rule reads a bounded window of the trail (by default the last 30 days; the 90-day norms
and pairs look further back) with SQL filters and aggregates; Python only groups the rows the
rules flagged. An item's key names what it is about and the events it rests on, so a review
written about it sticks until new events come (or a wider view sees more)."""

from __future__ import annotations

from datetime import date, datetime

from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, object_session

from caseapp.db import utcnow
from caseapp.errors import Forbidden, NotFound, ValidationFailed
from caseapp.limits import REASON_MAX
from caseapp.models import User
from caseapp.models.approvals import AttentionReview
from caseapp.services.audit import sealed_text
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
    nothing by or about them.

    A review covers exactly the evidence its reviewer saw: the key names the item's events
    (``Item.seal``), so new events, or a wider scope seeing more, make it unreviewed again. A
    review of the chain's health counts only when its reviewer's audit scope includes a top
    unit (``chain.may_review``), for the auditors and the operator's command alike."""
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
    may_review_chain = chain.may_review(auditor)
    for item in found:
        item.seal()
        item.may_review = auditor is not None and (not item.chain or may_review_chain)
    reviews = _reviews(session, [i.key for i in found])
    reviewers = {r.reviewed_by_id for r in reviews.values()} - {None}
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(reviewers)))}
    for item in found:
        review = reviews.get(item.key)
        if review is None:
            continue
        by = users.get(review.reviewed_by_id or 0)
        if item.chain and not chain.may_review(by):
            continue  # written by someone who may not review the whole trail: not reviewed
        item.review = review
        item.reviewer = by.username if by is not None else ""
    if auditor is not None:
        _history(session, auditor, [i for i in found if i.review is None])
    found.sort(key=lambda i: i.at, reverse=True)
    found.sort(key=lambda i: SEVERITIES.index(i.severity))
    return found


def _reviews(session: Session, keys: list[str]) -> dict[str, AttentionReview]:
    reviews: dict[str, AttentionReview] = {}
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
    return reviews


REVIEWS = "attention_reviews"


def _session_of(row) -> Session:
    session = object_session(row)
    assert session is not None  # shown rows were loaded by the page's session
    return session


def note_of(review: AttentionReview) -> str:
    """The note of a review as every page shows it: sealed in the database (the service's audit
    text key), opened here."""
    return sealed_text.row_text(_session_of(review), REVIEWS, "note", review.note)


def _history(session: Session, auditor: User, unreviewed: list[Item]) -> None:
    """The auditor's own earlier reviews of an item that has had new events since (theirs only:
    another auditor's note may speak of units outside this auditor's)."""
    for chunk in range(0, len(unreviewed), 100):
        by_base = {i.base: i for i in unreviewed[chunk : chunk + 100]}
        rows = session.scalars(
            select(AttentionReview)
            .where(
                AttentionReview.reviewed_by_id == auditor.id,
                or_(
                    *[
                        AttentionReview.item_key.startswith(f"{base}@", autoescape=True)
                        for base in by_base
                    ]
                ),
            )
            .order_by(AttentionReview.reviewed_at.desc())
        )
        for review in rows:
            item = by_base.get(review.item_key.rpartition("@")[0])
            if item is not None:
                item.history.append(review)


def unreviewed_high(found: list[Item]) -> list[Item]:
    return [i for i in found if i.severity == "high" and not i.reviewed]


def mark_reviewed(
    session: Session, auditor: User, key: str, note: str, since: date | None = None
) -> AttentionReview:
    """The auditor marks an item of their own list reviewed, with a note (audited). The review
    covers the item as they saw it (its key names its events); the chain's health only an
    auditor of a top unit may review (Forbidden, nothing written)."""
    note = (note or "").strip()
    if not note:
        raise ValidationFailed(_("Please write a note."))
    if len(note) > REASON_MAX:
        raise ValidationFailed(_("The note is too long."))
    found = items(session, auditor, since)
    item = next((i for i in found if i.key == key), None)
    if item is None:
        if any(i.base == key.rpartition("@")[0] for i in found):
            raise ValidationFailed(
                _("The item has changed since the page was shown. Please look at it again.")
            )
        raise NotFound()
    if not item.may_review:
        raise Forbidden(
            _("Only an auditor of a top-level unit may review the health of the audit trail.")
        )
    if item.review is not None:
        raise ValidationFailed(_("This item has already been reviewed."))
    # A review of this key that does not count (its writer may no longer review the chain) is
    # taken over; the trail keeps both.
    review = session.scalar(select(AttentionReview).where(AttentionReview.item_key == key))
    replaced = None
    sealed_note = sealed_text.seal_row_text(session, None, REVIEWS, "note", note)
    if review is None:
        review = AttentionReview(item_key=key, reviewed_by_id=auditor.id, note=sealed_note)
        session.add(review)
    else:
        # The earlier note is the sealed reason of the earlier event: never repeated in clear.
        replaced = {"reviewed_by": review.reviewed_by_id, "note": "changed" if review.note else ""}
        review.reviewed_by_id, review.reviewed_at, review.note = auditor.id, utcnow(), sealed_note
    changes: dict[str, object] = {
        "item": key,
        "kind": item.kind,
        "severity": item.severity,
        "events": item.seqs,
    }
    if replaced is not None:
        changes["replaces"] = replaced
    record(
        session,
        auditor,
        "audit.attention_reviewed",
        review,
        object_type="attention_reviews",
        object_ref=key[:64],
        changes=changes,
        reason=note,
    )
    return review
