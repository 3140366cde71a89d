"""keys retire refuses a wrapping key while a request from a data subject still has its data key
wrapped by it; the rewrap reseals that key (audited, as a case key's is), after which the key
retires and the request's sealed fields still open."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from caseapp.models import AuditEvent
from caseapp.models.privacy import SubjectRequest
from caseapp.runtime import keyring
from caseapp.services.keys import rotation as keys
from caseapp.services.privacy import requests as service
from tests.factories import Visitor
from tests.functional.subject_request_support import REQUESTER, record_request, url


def _wrapping_key(db, request_id: int) -> str:
    db.expire_all()
    return keys.sealed_key_id(db.get(SubjectRequest, request_id).wrapped_key)


@pytest.mark.usefixtures("ring")  # a copy of the keyring, restored afterwards
def test_retire_refuses_while_a_request_key_uses_it_then_rewrap_keeps_it_readable(app, db, world):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    req = record_request(focal, db)
    kr = keyring()
    old = kr.active("wrap").id
    assert _wrapping_key(db, req.id) == old

    new = keys.rotate(db, kr, "wrap")
    assert keys.count_stale(db, kr) >= 1
    stale_ids = {r.id for r in keys._stale_request_keys(db, kr)}
    assert req.id in stale_ids

    # The attack the review found: retire the old key while the request still needs it.
    with pytest.raises(keys.KeyInUse):
        keys.retire(db, kr, old)
    assert old in {k.id for k in kr.keys("wrap")}
    assert "keys.retire" not in set(db.scalars(select(AuditEvent.action)))
    assert _wrapping_key(db, req.id) == old

    keys.rewrap(db, kr)
    assert _wrapping_key(db, req.id) == new
    rewrapped = db.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "keys.rewrap",
            AuditEvent.object_type == "subject_requests",
            AuditEvent.object_id == str(req.id),
        )
    ).all()
    assert len(rewrapped) == 1 and "changed" in rewrapped[0].changes
    assert keys.count_stale(db, kr) == 0

    keys.retire(db, kr, old)
    assert old not in {k.id for k in kr.keys("wrap")}
    db.expire_all()
    assert service.opened(db.get(SubjectRequest, req.id)).requester_name == REQUESTER
    assert focal.get(url(req)).status_code == 200
