"""The referral directory: services a case can be referred to, kept per unit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy import false, or_, select
from sqlalchemy.orm import Session, joinedload

from caseapp.errors import Conflict, NotFound, ValidationFailed
from caseapp.models import ReferralContact, Unit
from caseapp.models.units import REFERRAL_KINDS
from caseapp.security.authz import covers, scope_filter, scope_paths
from caseapp.services.audit.trail import record

if TYPE_CHECKING:
    from caseapp.models import User

NAME_MAX = 200
PHONE_MAX = 40
ADDRESS_MAX = 500


def visible_contacts(user: User):
    """Contacts at units the user works in, and at the units above them (a school sees the
    district's and province's directory too)."""
    paths = scope_paths(user, "referral.read")
    if not paths:
        return select(ReferralContact).where(false())
    ancestor_ids = {int(part) for p in paths for part in p.strip("/").split("/")}
    return (
        select(ReferralContact)
        .join(ReferralContact.unit)
        .options(joinedload(ReferralContact.unit))
        .where(
            or_(
                ReferralContact.unit_id.in_(ancestor_ids),
                scope_filter(user, "referral.read", Unit.path),
            )
        )
        .order_by(Unit.path, ReferralContact.kind, ReferralContact.name)
    )


def get_contact_to_manage(session: Session, user: User, contact_id: int) -> ReferralContact:
    contact = session.get(ReferralContact, contact_id)
    if contact is None or not covers(user, "referral.manage", contact.unit):
        raise NotFound()
    return contact


def _check(name: str, kind: str, phone: str, address: str) -> None:
    if not name.strip() or len(name) > NAME_MAX:
        raise ValidationFailed(_("A name is required (at most %(n)d characters).", n=NAME_MAX))
    if kind not in REFERRAL_KINDS:
        raise ValidationFailed(_("Unknown kind of service."))
    if len(phone) > PHONE_MAX or len(address) > ADDRESS_MAX:
        raise ValidationFailed(_("The phone or address is too long."))


def create_contact(
    session: Session, actor: User | None, unit: Unit, name: str, kind: str, phone: str, address: str
) -> ReferralContact:
    if actor is not None and not covers(actor, "referral.manage", unit):
        raise NotFound()
    _check(name, kind, phone, address)
    contact = ReferralContact(
        unit=unit, name=name.strip(), kind=kind, phone=phone.strip(), address=address.strip()
    )
    session.add(contact)
    record(session, actor, "referral_contact.create", contact, unit=unit)
    return contact


def update_contact(
    session: Session,
    actor: User,
    contact: ReferralContact,
    name: str,
    kind: str,
    phone: str,
    address: str,
    active: bool,
    version: int,
) -> ReferralContact:
    if contact.version != version:
        raise Conflict(_("This contact was changed by someone else. Reload it and try again."))
    _check(name, kind, phone, address)
    contact.name, contact.kind = name.strip(), kind
    contact.phone, contact.address, contact.active = phone.strip(), address.strip(), active
    record(session, actor, "referral_contact.update", contact, unit=contact.unit)
    return contact
