"""Every mapped model is either audited (the guard refuses to commit a change to it without its
audit event) or exempt here with a reason, so a new model cannot slip in unaudited."""

from __future__ import annotations

import caseapp.models  # noqa: F401 - maps every model on Base
from caseapp.db import Base
from caseapp.models import AUDITED_MODELS

# Table name -> why a change to a row of it needs no audit event of its own.
EXEMPT = {
    "audit_events": "the audit trail itself: append-only and hash-chained",
    "audit_event_names": "the accounts an exclusion or approval event names, written with the "
    "event (trail.record) like an index of it",
    "audit_checkpoints": "signed heads of the trail; writing one is audited as audit.checkpoint",
    "case_counters": "the per-school reference counter; case.create records the number it gave",
    "notifications": "notices derived from audited changes; reading one changes nothing else",
    "user_sessions": "sign-in bookkeeping; sign-ins, sign-outs and revocations are audited",
    "sign_in_throttles": "failure counters; each failed attempt is audited by the auth service",
    "keyring_keys": "key ids (never keys) bound at start-up before anything is written; the "
    "rotations and retirements that change them are audited",
    "case_rollups": "derived figures (sums of audited cases, persons, steps and transitions), "
    "recomputed from them like an index; the changes they count are audited",
    "case_office_rollups": "derived figures: the case_rollups rows summed per office, kept "
    "with them in the same transaction",
    "case_rollup_marks": "bookkeeping of which rollups to recompute, written with the audited "
    "change that made them stale",
    "unit_case_tallies": "derived counts of audited cases, kept in the transaction of the audited "
    "change that moves them, like an index",
    "unit_month_tallies": "derived counts of audited cases and transitions per month, kept like "
    "unit_case_tallies",
    "unit_overdue_month_tallies": "derived counts of audited cases by the month their clock "
    "runs out, kept like unit_case_tallies",
    "unit_overdue_day_tallies": "derived counts of audited cases by the day their clock runs "
    "out, kept like unit_case_tallies",
    "audit_text_keys": "the keys that seal the trail's own free text, made inside the event "
    "that first needs one; destroying one is part of the audited case.destroy_content",
}


def _mapped() -> dict[str, type]:
    return {m.class_.__tablename__: m.class_ for m in Base.registry.mappers}


def test_every_model_is_audited_or_exempt_with_a_reason():
    mapped = _mapped()
    audited = {cls.__tablename__ for cls in AUDITED_MODELS}
    unaccounted = set(mapped) - audited - set(EXEMPT)
    assert not unaccounted, (
        f"add these models to caseapp.models.AUDITED_MODELS (or, with a reason, to EXEMPT in "
        f"this test): {sorted(mapped[t].__name__ for t in unaccounted)}"
    )


def test_the_lists_name_only_mapped_models_and_do_not_overlap():
    mapped = _mapped()
    assert set(EXEMPT) <= set(mapped), f"stale exemptions: {sorted(set(EXEMPT) - set(mapped))}"
    assert all(cls in mapped.values() for cls in AUDITED_MODELS)
    assert len(set(AUDITED_MODELS)) == len(AUDITED_MODELS)
    both = {cls.__tablename__ for cls in AUDITED_MODELS} & set(EXEMPT)
    assert not both, f"audited and exempt at once: {sorted(both)}"
    assert all(reason.strip() for reason in EXEMPT.values())
