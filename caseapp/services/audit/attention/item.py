"""One item of the attention list, and the sentence that explains it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext

from caseapp.models.approvals import AttentionReview

SEVERITIES = ("high", "medium", "low")
# Changes after which a person's reads are looked at (made by a person, not by the operator).
CHANGES = ("user.grant", "auth.credential_reset", "auth.enrolment_used", "case.exclusion_lift")


@dataclass
class Item:
    """One thing an auditor should look at."""

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
    review: AttentionReview | None = None
    reviewer: str = ""  # the user name of who reviewed it

    @property
    def explanation(self) -> str:
        return explain(self)

    @property
    def reviewed(self) -> bool:
        return self.review is not None


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
