"""keys retire refuses a wrapping key while a self-report still has its data key wrapped by it;
the rewrap reseals that key (audited), after which the key retires and the report's sealed
details and messages still open."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from caseapp.models import AuditEvent, SelfReport, Unit
from caseapp.runtime import keyring
from caseapp.services.keys import rotation as keys
from caseapp.services.selfreports import seal
from tests.functional.selfreport_support import SECRET, reporter_message, submit_report


def _wrapping_key(db, report_id: int) -> str:
    db.expire_all()
    return keys.sealed_key_id(db.get(SelfReport, report_id).wrapped_key)


@pytest.mark.usefixtures("ring")  # a copy of the keyring, restored afterwards
def test_retire_refuses_while_a_report_key_uses_it_then_rewrap_keeps_it_readable(db, world):
    report = submit_report(db, db.get(Unit, world.units["SCH-A"]))
    message = reporter_message(db, report, f"Em vẫn sợ {SECRET}")
    db.commit()
    kr = keyring()
    old = kr.active("wrap").id
    assert _wrapping_key(db, report.id) == old

    new = keys.rotate(db, kr, "wrap")
    assert report.id in {r.id for r in keys._stale_report_keys(db, kr)}
    with pytest.raises(keys.KeyInUse):
        keys.retire(db, kr, old)
    assert "keys.retire" not in set(db.scalars(select(AuditEvent.action)))

    keys.rewrap(db, kr)
    assert _wrapping_key(db, report.id) == new
    rewrapped = db.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "keys.rewrap",
            AuditEvent.object_type == "self_reports",
            AuditEvent.object_id == str(report.id),
        )
    ).all()
    assert len(rewrapped) == 1 and "changed" in rewrapped[0].changes
    assert keys.count_stale(db, kr) == 0

    keys.retire(db, kr, old)
    assert old not in {k.id for k in kr.keys("wrap")}
    db.expire_all()
    again = db.get(SelfReport, report.id)
    opened = seal.ReportSeal(again)
    assert SECRET in opened.open("details", again.details)
    assert SECRET in opened.open_message(message.uid, message.body)
