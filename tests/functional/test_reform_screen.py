"""The re-organisation screen: the check lists the changes and writes nothing; applying is
audited once (org.reform, with the moves); a commune's administrator naming another commune's
school is refused by line, and nothing changes; the template downloads."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from caseapp.models import AuditEvent, Unit
from tests.factories import TOKEN_PAGE, csrf_from, sign_in_client
from tests.functional.reform_support import ROWS, legacy_world


def _post(client, url: str, text: str, **extra):
    token = csrf_from(client.get(TOKEN_PAGE).get_data(as_text=True))
    data = {"csrf_token": token, "file": (io.BytesIO(text.encode()), "reform.csv"), **extra}
    return client.post(url, data=data, content_type="multipart/form-data")


def _events(db) -> int:
    return db.scalar(select(func.count()).select_from(AuditEvent))


def test_check_then_apply(db, world, client):
    legacy_world(db, world)
    db.commit()
    sign_in_client(client, db, world["admin_p"])
    before = _events(db)
    checked = _post(client, "/admin/reform/check", ROWS)
    assert checked.status_code == 200
    page = checked.get_data(as_text=True)
    assert all(code in page for code in ("LD-S1", "LD-S2", "LD-S3", "CM-1", "CM-2"))
    assert _events(db) == before
    assert db.scalar(select(Unit.parent_id).where(Unit.code == "LD-S1")) == db.scalar(
        select(Unit.id).where(Unit.code == "LD")
    )
    applied = _post(client, "/admin/reform", ROWS, close_emptied="y")
    assert applied.status_code == 302
    db.expire_all()
    assert db.scalar(select(Unit.valid_to).where(Unit.code == "LD")) is not None
    actions = list(
        db.scalars(
            select(AuditEvent.action).where(AuditEvent.seq > before).order_by(AuditEvent.seq)
        )
    )
    assert sorted(actions) == sorted(["unit.move"] * 3 + ["unit.close", "org.reform"]), actions
    template = client.get("/admin/reform/template.xlsx")
    assert template.status_code == 200 and template.data[:2] == b"PK"


def test_a_commune_admin_cannot_move_another_communes_school(db, world, client):
    db.commit()
    sign_in_client(client, db, world["admin_d1"])
    before = _events(db)
    rows = "Mã trường,Mã đơn vị cấp trên mới,Từ ngày\nSCH-C,D1,2026-12-01\n"
    refused = _post(client, "/admin/reform", rows)
    assert refused.status_code == 400
    assert "SCH-C" in refused.get_data(as_text=True)
    db.expire_all()
    assert db.scalar(select(Unit.parent_id).where(Unit.code == "SCH-C")) == world.units["D2"]
    assert _events(db) == before
