"""The usual services of the referral directory, added to a unit in one step: the national child
protection hotline 111 (free, day and night; run under the Ministry of Health since the
government re-organisation of 2025), and for a commune or ward its police, its health station and
its People's Committee (the Culture and Society office), for a province its social protection
centre. Adding them again adds nothing twice."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from caseapp.errors import NotFound
from caseapp.models import ReferralContact, Unit, User
from caseapp.security.authz import covers
from caseapp.services.audit.trail import record

HOTLINE = "111"


@dataclass(frozen=True)
class Default:
    """One usual service: its kind in the directory, its name for ``unit`` (in the language of
    the person adding it; a row keeps the words it was written with), its phone, and the kinds
    of unit it belongs to."""

    kind: str
    name: Callable[[Unit], str]
    phone: str
    for_kinds: tuple[str, ...]


DEFAULTS: tuple[Default, ...] = (
    Default(
        "hotline",
        lambda unit: _(
            "National child protection hotline 111 (free, day and night; run under the "
            "Ministry of Health since 2025)"
        ),
        HOTLINE,
        ("ministry", "province", "commune", "district", "school"),
    ),
    Default("police", lambda unit: _("Police of %(unit)s", unit=unit.name), "", ("commune",)),
    Default(
        "health_station",
        lambda unit: _("Health station of %(unit)s", unit=unit.name),
        "",
        ("commune",),
    ),
    Default(
        "commune_committee",
        lambda unit: _(
            "People's Committee of %(unit)s (Culture and Society office)", unit=unit.name
        ),
        "",
        ("commune",),
    ),
    Default(
        "social_protection",
        lambda unit: _("Provincial social protection centre"),
        "",
        ("province",),
    ),
)


def _ancestor_ids(unit: Unit) -> list[int]:
    return [int(part) for part in unit.path.strip("/").split("/")]


def missing_defaults(session: Session, unit: Unit) -> list[Default]:
    """The usual services ``unit`` lacks: a kind of service it has no contact of yet (kept or
    no longer in use alike: one switched off stays off), and the hotline 111 unless the unit or
    one above it lists it already (everyone below sees the directories above them)."""
    own_kinds = set(
        session.scalars(select(ReferralContact.kind).where(ReferralContact.unit_id == unit.id))
    )
    hotline_listed = session.scalar(
        select(ReferralContact.id)
        .where(
            ReferralContact.unit_id.in_(_ancestor_ids(unit)),
            ReferralContact.phone == HOTLINE,
        )
        .limit(1)
    )
    return [
        default
        for default in DEFAULTS
        if unit.kind in default.for_kinds
        and default.kind not in own_kinds
        and not (default.phone == HOTLINE and hotline_listed)
    ]


def add_defaults(session: Session, actor: User | None, unit: Unit) -> list[ReferralContact]:
    """Add the usual services ``unit`` lacks to its directory, audited as one event that
    covers every contact added; none missing: nothing is written (an empty list)."""
    if actor is not None and not covers(actor, "referral.manage", unit):
        raise NotFound()
    added = [
        ReferralContact(
            unit=unit, name=default.name(unit)[:200], kind=default.kind, phone=default.phone
        )
        for default in missing_defaults(session, unit)
    ]
    if not added:
        return []
    session.add_all(added)
    record(
        session,
        actor,
        "referral_contact.defaults",
        unit=unit,
        object_type="referral_contacts",
        object_ref=unit.code,
        covers=tuple(added),
        changes={"added": [[c.kind, c.name, c.phone] for c in added]},
    )
    return added
