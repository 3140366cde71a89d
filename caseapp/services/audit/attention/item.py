"""One item of the attention list, and the sentence that explains it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext

from caseapp.models.approvals import AttentionReview

SEVERITIES = ("high", "medium", "low")
# The health of the chain concerns the whole trail: only an auditor of a top unit reviews it.
CHAIN_KINDS = ("gap", "truncated", "checkpoint")
KEY_MAX = 160  # AttentionReview.item_key
# Changes after which a person's reads are looked at (made by a person, not by the operator).
CHANGES = ("user.grant", "auth.credential_reset", "auth.enrolment_used", "case.exclusion_lift")


@dataclass
class Item:
    """One thing an auditor should look at."""

    # What the item is about ("night:<person>:<day>"); ``seal`` appends the fingerprint of its
    # evidence, so that a review covers exactly the events its reviewer saw.
    key: str
    kind: str
    severity: str
    at: datetime
    who: str
    who_id: int | None = None
    seqs: list[int] = field(default_factory=list)
    count: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    # Filters of the audit event list that show the item's events.
    events_filter: dict[str, str] = field(default_factory=dict)
    # The evidence as (number of events, last seq, sum of seqs) when ``seqs`` holds only the first
    # SEQS_KEPT of them; None: ``seqs`` is all of it.
    evidence: tuple[int, int, int] | None = None
    base: str = ""  # ``key`` without the fingerprint (set by ``seal``)
    review: AttentionReview | None = None
    reviewer: str = ""  # the user name of who reviewed it
    may_review: bool = True  # whether the auditor looking may mark it reviewed
    # Earlier reviews of the same thing by the auditor looking, before new events came.
    history: list[AttentionReview] = field(default_factory=list)

    def seal(self) -> None:
        """Make ``key`` name the evidence too: the number of events, the last and a digest of
        all their seqs. New events, or a wider scope seeing more, make another key: unreviewed."""
        if self.base:
            return
        n, last, total = self.evidence or (
            len(self.seqs),
            max(self.seqs, default=0),
            sum(self.seqs),
        )
        digest = hashlib.sha256(f"{n}:{last}:{total}:{self.key}".encode()).hexdigest()[:10]
        fingerprint = f"@{n}.{last}.{digest}"
        base = self.key
        if len(base) + len(fingerprint) > KEY_MAX:  # long ids: keep the key within the column
            tail = hashlib.sha256(base.encode()).hexdigest()[:16]
            base = f"{base[: KEY_MAX - len(fingerprint) - len(tail) - 1]}~{tail}"
        self.base = base
        self.key = base + fingerprint

    @property
    def explanation(self) -> str:
        return explain(self)

    @property
    def reviewed(self) -> bool:
        return self.review is not None

    @property
    def chain(self) -> bool:
        return self.kind in CHAIN_KINDS


def explain(item: Item) -> str:
    """A short, translated sentence saying why the item is listed."""
    d = item.details
    if item.kind == "ceiling":
        return _(
            "%(n)d confidential reads in one day, above the ceiling of %(ceiling)d.",
            n=item.count,
            ceiling=d["ceiling"],
        )
    if item.kind == "norm":
        return _(
            "%(n)d confidential reads in one day; their usual day (last 90 days) is %(norm)s.",
            n=item.count,
            norm=d["norm"],
        )
    if item.kind == "other_school":
        return _(
            "Read case %(ref)s of another school (%(unit)s) with no workflow step on it that day.",
            ref=d["ref"],
            unit=d["unit"],
        )
    if item.kind == "night":
        return ngettext(
            "%(num)d confidential read at night (22:00-06:00).",
            "%(num)d confidential reads at night (22:00-06:00).",
            item.count,
        )
    if item.kind == "holiday":
        return ngettext(
            "%(num)d confidential read on a public holiday (%(holiday)s).",
            "%(num)d confidential reads on a public holiday (%(holiday)s).",
            item.count,
            holiday=d["holiday"],
        )
    if item.kind == "after_change":
        return ngettext(
            "%(num)d confidential read within 24 hours after a change to their access "
            "(%(change)s).",
            "%(num)d confidential reads within 24 hours after a change to their access "
            "(%(change)s).",
            item.count,
            change=", ".join(_change_names().get(a, a) for a in d["changes"]),
        )
    if item.kind == "pair":
        return _(
            "%(requester)s asked and %(approver)s approved %(n)d grants or sign-in resets "
            "within 90 days.",
            requester=d["requester"],
            approver=d["approver"],
            n=item.count,
        )
    if item.kind == "excluded":
        return _(
            "Read case %(ref)s while excluded from it: this should be impossible.", ref=d["ref"]
        )
    if item.kind == "reset":
        return _("Sign-in reset, approved by %(approver)s.", approver=d["approver"])
    if item.kind == "separation":
        return _(
            "Holds administration together with %(roles)s (separation of duties).",
            roles=", ".join(d["roles"]),
        )
    if item.kind == "gap":
        return _(
            "The audit trail has a gap: event %(first)d is missing (found %(next)d next).",
            first=d["first"],
            next=d["next"],
        )
    if item.kind == "checkpoint":
        if d.get("hours") is None:
            return _("No checkpoint of the audit trail has been signed.")
        return _(
            "The newest signed checkpoint of the audit trail is %(hours)d hours old.",
            hours=d["hours"],
        )
    if item.kind == "truncated":
        return _(
            "A signed checkpoint names event %(seq)d but the trail ends at %(head)d: "
            "events are missing.",
            seq=d["seq"],
            head=d["head"],
        )
    return item.kind


def _change_names() -> dict[str, str]:
    from caseapp.labels import audit_action_names

    names = audit_action_names()
    return {a: names.get(a, a) for a in CHANGES}
