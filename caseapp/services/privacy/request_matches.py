"""Which people of which cases a request is about: found through the blind index (the keyed
digest of the subject's name, for the position the requester's relation allows), never by
decrypting another case; among the cases of the request unit's scope the acting person may see.
The handler confirms or sets aside each candidate."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from caseapp.errors import NotFound, ValidationFailed
from caseapp.models import Case, CaseNameIndex, CasePerson, Unit
from caseapp.models.privacy import SubjectRequest, SubjectRequestMatch
from caseapp.runtime import keyring
from caseapp.security import envelope
from caseapp.services.audit.trail import record
from caseapp.services.cases.access import visible_cases
from caseapp.services.privacy.requests import check_version, opened, refuse_decided

if TYPE_CHECKING:
    from caseapp.models import User

# The position in a case a requester's relation lets the request reach: a person harmed or
# their guardian, the person harmed; an alleged perpetrator, themselves as such. An informant or
# a member of staff is in no position of the index (the informant's name is sealed apart and
# never indexed): their requests are answered by hand.
POSITION_OF_RELATION = {
    "person_harmed": "harmed",
    "guardian": "harmed",
    "alleged_perpetrator": "perpetrator",
}
CANDIDATES_MAX = 50


def position_for(req: SubjectRequest) -> str | None:
    return POSITION_OF_RELATION.get(req.relation)


def _digests(position: str, name: str) -> list[tuple[str, str]]:
    """(key id, digest) of ``name`` under every blind-index key, old ones included (rows
    indexed before a rotation keep their key's digest)."""
    out = []
    for key in keyring().keys("blind_index"):
        digest = envelope.name_digest(key.secret, position, name)
        if digest:
            out.append((key.id, digest))
    return out


def search(session: Session, actor: User, req: SubjectRequest, version: int) -> int:
    """Add the candidates the index finds (not yet listed) to ``req``; how many were new."""
    check_version(req, version)
    refuse_decided(req)
    position = position_for(req)
    if position is None:
        raise ValidationFailed(
            _(
                "An informant or a member of staff is not in the name index: find their data "
                "by hand with the case reference they give."
            )
        )
    pairs = _digests(position, opened(req).subject_name)
    if not pairs:
        return 0
    digests = [d for _k, d in pairs]
    in_scope = (
        visible_cases(actor).where(Unit.path.startswith(req.unit.path)).with_only_columns(Case.id)
    )
    rows = session.execute(
        select(
            CaseNameIndex.case_id,
            CaseNameIndex.person_id,
            CaseNameIndex.key_id,
            CaseNameIndex.digest,
        )
        .join(CasePerson, CasePerson.id == CaseNameIndex.person_id)
        .where(
            CaseNameIndex.role == position,
            CaseNameIndex.digest.in_(digests),
            CaseNameIndex.case_id.in_(in_scope),
            CasePerson.withdrawn_at.is_(None),
        )
        .order_by(CaseNameIndex.case_id)
        .limit(CANDIDATES_MAX * 2)
    ).all()
    known = {m.person_id for m in req.matches}
    wanted = set(pairs)
    added: list[SubjectRequestMatch] = []
    for case_id, person_id, key_id, digest in rows:
        if person_id is None or (key_id, digest) not in wanted or person_id in known:
            continue
        known.add(person_id)
        match = SubjectRequestMatch(
            request=req, case_id=case_id, person_id=person_id, position=position
        )
        session.add(match)
        added.append(match)
    record(
        session,
        actor,
        "request.match_search",
        unit=req.unit,
        object_type="subject_requests",
        object_id=str(req.id),
        object_ref=req.reference,
        changes={"position": position, "found": len(added)},
        covers=(req, *added),
    )
    session.flush()  # the new matches have their ids (the page's forms name them)
    return len(added)


def visible_matches(session: Session, user: User, req: SubjectRequest) -> list[tuple]:
    """(match, case, person) of ``req`` whose case ``user`` may see (an exclusion hides it):
    one query."""
    return list(
        session.execute(
            visible_cases(user)
            .with_only_columns(SubjectRequestMatch, Case, CasePerson)
            .join(SubjectRequestMatch, SubjectRequestMatch.case_id == Case.id)
            .join(CasePerson, CasePerson.id == SubjectRequestMatch.person_id)
            .where(SubjectRequestMatch.request_id == req.id)
            .order_by(SubjectRequestMatch.id)
        ).all()
    )


def confirm(
    session: Session, actor: User, req: SubjectRequest, match_id: int, confirmed: bool
) -> SubjectRequestMatch:
    """Confirm (or set aside) one candidate of ``req`` whose case ``actor`` may see."""
    refuse_decided(req)
    found = next(
        (m for m, _c, _p in visible_matches(session, actor, req) if m.id == match_id), None
    )
    if found is None:
        raise NotFound()
    if found.confirmed == confirmed:
        return found
    found.confirmed = confirmed
    record(
        session,
        actor,
        "request.match_confirm",
        found,
        unit=req.unit,
        object_ref=req.reference,
        changes={"case_id": found.case_id, "position": found.position, "confirmed": confirmed},
    )
    return found


def confirmed_matches(session: Session, actor: User, req: SubjectRequest) -> list[tuple]:
    """(match, case, person) of the confirmed matches of ``req`` that ``actor`` may see."""
    return [row for row in visible_matches(session, actor, req) if row[0].confirmed]


def hidden_confirmed(session: Session, actor: User, req: SubjectRequest) -> int:
    """How many confirmed matches of ``req`` are in a case ``actor`` may not see (an exclusion):
    a decision acting on the cases must not skip them silently."""
    confirmed = {m.id for m in req.matches if m.confirmed}
    seen = {m.id for m, _c, _p in confirmed_matches(session, actor, req)}
    return len(confirmed - seen)
