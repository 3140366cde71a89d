"""Helpers for case tests: a valid intake form, and posting it as a signed-in person."""

from __future__ import annotations

from sqlalchemy import select

from caseapp.clock import local_today
from caseapp.models import Case

CANARY = "CANARY-7f3a9c"


def intake_form(unit_id: int, **overrides) -> dict:
    form = {
        "unit_id": str(unit_id),
        "received_on": local_today().isoformat(),
        "received_via": "in_person",
        "reporter_kind": "teacher",
        "setting": "in_school",
        "violence_types": ["physical", "psychological"],
        "risk_level": "medium",
        "child": "y",
        "harmed_sex": "female",
        "harmed_age_band": "11-14",
        "harmed_age_years": "12",
        "harmed_role": "pupil",
        "harmed_disability": "no",
        "harmed_ethnic_minority": "unknown",
        "perpetrator_count": "1",
        "perpetrator_sex": "male",
        "perpetrator_age_band": "11-14",
        "perpetrator_relationship": "pupil_peer",
        "harmed_name": f"Nguyễn Thị {CANARY}-harmed",
        "harmed_contact": f"{CANARY}-contact",
        "guardian_name": f"{CANARY}-guardian",
        "guardian_contact": f"{CANARY}-gcontact",
        "perpetrator_names": f"Trần Văn {CANARY}-perp",
        "narrative": f"{CANARY}-narrative",
        "informant_name": f"{CANARY}-informant",
        "informant_contact": f"{CANARY}-icontact",
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


def record_case(browser, db, unit_id: int, **overrides) -> Case:
    r = browser.post("/cases/new", intake_form(unit_id, **overrides), token_from="/cases/new")
    assert r.status_code == 302, r.get_data(as_text=True)[:3000]
    public_id = r.headers["Location"].rsplit("/", 1)[-1]
    db.expire_all()
    return db.scalar(select(Case).where(Case.public_id == public_id))
