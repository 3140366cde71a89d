"""keys retire refuses a wrapping key while a case's data key is still wrapped by it; after the
rewrap it succeeds, and the case still decrypts (only the wrapping changed)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from caseapp.models import AuditEvent, Case, Unit, User
from caseapp.runtime import keyring
from caseapp.security.crypto import associated_data, seal_with_keyring, unseal_with_keyring
from caseapp.services.audit.trail import record
from caseapp.services.cases import content as case_content
from caseapp.services.cases import intake as cases
from caseapp.services.keys import rotation as keys
from tests.functional.case_attack_support import case_details

HARMED = "Nguyễn Thị Hồng Nhung"
NARRATIVE = "Em bị bạn cùng lớp xô ngã trong giờ ra chơi."


def _rewrap_accounts_only(db, kr) -> None:
    """Reseal every TOTP secret under the active key (as keys.rewrap does), leaving the case
    data keys alone: afterwards only a case still depends on the old key."""
    active = kr.active("wrap").id
    for user in db.scalars(select(User).where(User.totp_secret.is_not(None))):
        if keys.sealed_key_id(user.totp_secret) == active:
            continue
        ad = associated_data("users", user.id, "totp_secret")
        user.totp_secret = seal_with_keyring(kr, unseal_with_keyring(kr, user.totp_secret, ad), ad)
        record(db, None, "keys.rewrap", user, unit=user.unit, changes={"totp_secret": "changed"})
    db.commit()


def _wrapping_key(db, case_id: int) -> str:
    db.expire_all()
    return keys.sealed_key_id(db.get(Case, case_id).wrapped_key)


@pytest.mark.usefixtures("ring")  # a copy of the keyring, restored afterwards
def test_retire_refuses_while_a_case_key_uses_it_then_succeeds_after_rewrap(app, db, world):
    kr = keyring()
    focal = db.get(User, world["focal_a"].id)
    case = cases.create_case(
        db,
        focal,
        db.get(Unit, world.units["SCH-A"]),
        case_details(),
        cases.CaseContent(harmed_name=HARMED, narrative=NARRATIVE),
    )
    db.commit()
    old = kr.active("wrap").id
    assert _wrapping_key(db, case.id) == old

    # A new active key, nothing rewrapped by the rotation itself.
    new = keys.rotate(db, kr, "wrap")
    assert kr.active("wrap").id == new != old
    _rewrap_accounts_only(db, kr)
    assert _wrapping_key(db, case.id) == old  # the case is the only thing left on the old key

    runner = app.test_cli_runner()
    refused = runner.invoke(args=["keys", "retire", old])
    assert refused.exit_code != 0, refused.output
    # At least this case (on PostgreSQL, cases committed by the concurrency tests count too).
    still = re.search(r"(\d+) sealed values still use", refused.output)
    assert still and int(still.group(1)) >= 1, refused.output
    assert old in {k.id for k in kr.keys("wrap")}  # still in the keyring
    with pytest.raises(keys.KeyInUse):
        keys.retire(db, kr, old)
    assert "keys.retire" not in set(db.scalars(select(AuditEvent.action)))

    resumed = runner.invoke(args=["keys", "rotate", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert _wrapping_key(db, case.id) == new

    retired = runner.invoke(args=["keys", "retire", old])
    assert retired.exit_code == 0, retired.output
    assert old not in {k.id for k in kr.keys("wrap")}
    assert db.scalar(select(AuditEvent.object_id).where(AuditEvent.action == "keys.retire")) == old

    # The content is still readable with the old key gone.
    db.expire_all()
    content = case_content.open_content(db, focal, db.get(Case, case.id))
    assert (content.harmed_name, content.narrative) == (HARMED, NARRATIVE)
