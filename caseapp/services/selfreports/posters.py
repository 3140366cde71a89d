"""The A4 poster of a school's self-report page: its address as a QR code (drawn here as an
inline SVG, no third-party asset), the short address, the school's code and name. Printing one
changes nothing and reads nothing confidential: no audit event."""

from __future__ import annotations

from dataclasses import dataclass

import segno
from sqlalchemy.orm import Session

from caseapp.errors import NotFound
from caseapp.models import Unit, User
from caseapp.security.authz import ROLE_PERMISSIONS, covers, effective_grants
from caseapp.services.org.units import unit_by_code

POSTER = "selfreport.poster"


@dataclass(frozen=True)
class Poster:
    school_code: str
    school_name: str
    address: str  # absolute: what the QR code holds
    short_address: str  # the same without the scheme, in big letters
    qr_svg: str


def school_for_poster(session: Session, user: User, code: str) -> Unit:
    """The open school of ``code`` within ``user``'s units for posters; 404 otherwise (an
    unknown code, an office, a closed school and a school elsewhere all read the same)."""
    unit = unit_by_code(session, code)
    if unit is None or unit.kind != "school" or not unit.is_open or not covers(user, POSTER, unit):
        raise NotFound()
    return unit


def poster(school: Unit, address: str) -> Poster:
    """The poster of ``school`` whose public page is at ``address`` (absolute URL)."""
    qr = segno.make(address, error="q")
    # Presentation attributes (fill, stroke) and a class only: the CSP allows no style
    # attribute; the size comes from the stylesheet (omitsize).
    svg = qr.svg_inline(scale=1, dark="#000", light="#fff", omitsize=True, svgclass="poster-qr")
    short = address.split("://", 1)[-1]
    return Poster(school.code, school.name, address, short, svg)


def own_schools(user: User) -> list[Unit]:
    """The open schools where ``user`` holds a grant that prints posters (a focal point's
    school): the ones their home page offers a poster for; officers and admins above many
    schools reach them from the unit pages."""
    schools = {
        g.unit.id: g.unit
        for g in effective_grants(user)
        if POSTER in ROLE_PERMISSIONS.get(g.role, frozenset())
        and g.unit.kind == "school"
        and g.unit.is_open
    }
    return sorted(schools.values(), key=lambda u: u.code)
