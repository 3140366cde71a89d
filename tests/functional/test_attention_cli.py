"""`flask --app wsgi audit attention [--since DATE]`: one line per unreviewed item, a summary,
exit 1 while a high item is unreviewed; on the demo data it shows the seeded unusual reads and
nothing for the ordinary seeded work."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from caseapp import create_app, migrate
from caseapp.db import get_session
from caseapp.errors import Forbidden
from caseapp.models import AuditEvent, Unit, User
from caseapp.models.approvals import AttentionReview
from caseapp.runtime import keyring
from caseapp.services.audit import attention, integrity
from caseapp.services.audit.trail import record
from tests.factories import clear_reasons, make_user


def _run(app, *args: str):
    return app.test_cli_runner().invoke(args=["audit", "attention", *args])


def _lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.strip()]


def test_exit_code_follows_unreviewed_high_items(app, db, world):
    # No checkpoint was ever signed: high.
    first = _run(app)
    assert first.exit_code == 1, first.output
    assert first.output.startswith("HIGH") and "checkpoint" in first.output
    assert "1 unreviewed since" in _lines(first)[-1] and "(1 high" in _lines(first)[-1]

    integrity.checkpoint(db, None, keyring())
    db.commit()  # the command ends its reading with a rollback
    quiet = _run(app)
    assert quiet.exit_code == 0, quiet.output
    assert _lines(quiet) == [_lines(quiet)[-1]] and _lines(quiet)[-1].startswith("0 unreviewed")

    # A reset is listed (low) without failing the run.
    reset = record(
        db,
        db.get(User, world["admin_p"].id),
        "auth.credential_reset",
        unit=db.get(Unit, world.units["SCH-B"]),
        object_ref="focal.b",
        changes={"user": "focal.b"},
    )
    db.commit()  # the command ends its reading with a rollback
    low = _run(app)
    assert low.exit_code == 0 and f"[events {reset.seq}]" in low.output, low.output
    assert _lines(low)[0].startswith("LOW") and "focal.b reset" in _lines(low)[0]

    # A read while excluded: high until an auditor reviews it.
    school = db.get(Unit, world.units["SCH-A"])
    officer_p, officer = db.get(User, world["officer_p"].id), db.get(User, world["officer_d1"].id)
    record(
        db,
        officer_p,
        "case.exclude",
        unit=school,
        object_ref="R-1",
        changes={"user": officer.username},
    )
    bad = record(db, officer, "case.view_confidential", unit=school, object_ref="R-1")
    db.commit()  # the command ends its reading with a rollback
    alarm = _run(app)
    assert alarm.exit_code == 1
    assert any(line.startswith("HIGH") and str(bad.seq) in line for line in _lines(alarm))
    key = next(i.key for i in attention.items(db, None) if i.kind == "excluded")
    attention.mark_reviewed(db, db.get(User, world["auditor_p"].id), key, "Đã xác minh")
    db.commit()  # the command ends its reading with a rollback
    reviewed = _run(app)
    assert reviewed.exit_code == 0, reviewed.output
    assert not any(line.startswith("HIGH") for line in _lines(reviewed))
    assert "; 1 reviewed" in reviewed.output


def test_since_takes_iso_or_dd_mm_yyyy_and_refuses_anything_else(app, db):
    assert "since 2026-11-01" in _run(app, "--since", "01/11/2026").output
    assert "since 2026-11-01" in _run(app, "--since", "2026-11-01").output
    bad = _run(app, "--since", "tomorrow")
    assert bad.exit_code == 2 and "--since" in bad.output


# The demo data -------------------------------------------------------------------------------


@pytest.fixture()
def demo_app(settings, fresh_engine, tmp_path):
    instance = tmp_path / "instance"
    url = fresh_engine.url.render_as_string(hide_password=False)
    application = create_app(
        replace(
            settings,
            database_url=url,
            instance_dir=instance,
            keyring_path=instance / "keyring.json",
        )
    )
    migrate.upgrade(application.extensions["caseapp.engine"])
    yield application
    application.extensions["caseapp.engine"].dispose()


def test_demo_data_shows_the_seeded_unusual_reads_and_nothing_else(demo_app):
    from caseapp.demo import unusual

    with demo_app.app_context():
        seeded = demo_app.test_cli_runner().invoke(args=["seed-demo", "--cases", "24"])
        assert seeded.exit_code == 0, seeded.output
    with demo_app.app_context():
        result = _run(demo_app)
        assert result.exit_code == 1, result.output  # the burst is above the ceiling
        s = get_session()
        found = attention.items(s, None)
        reads = list(
            s.scalars(select(AuditEvent).where(AuditEvent.action == "case.view_confidential"))
        )
        said = dict(zip([e.seq for e in reads], clear_reasons(s, reads), strict=True))
        unusual_seqs = {
            seq
            for seq, why in said.items()
            if why in (unusual.BURST_REASON, unusual.NIGHT_REASON, unusual.OTHER_REASON)
        }
        night_seq = next(seq for seq, why in said.items() if why == unusual.NIGHT_REASON)
    kinds = {(i.kind, i.who) for i in found}
    assert ("ceiling", unusual.BURST_BY) in kinds
    assert ("night", unusual.NIGHT_BY) in kinds
    assert ("other_school", unusual.SECONDED[0]) in kinds
    # Nothing for the ordinary seeded work: every item is made of the unusual reads only.
    assert all(i.seqs and set(i.seqs) <= unusual_seqs for i in found), [
        (i.kind, i.who) for i in found
    ]
    assert {i.who for i in found} <= {unusual.BURST_BY, unusual.NIGHT_BY, unusual.SECONDED[0]}
    assert f"[events {night_seq}]" in result.output
    with demo_app.app_context():
        verified = demo_app.test_cli_runner().invoke(args=["audit", "verify", "--no-record"])
    assert verified.exit_code == 0, verified.output
    accounts = json.loads(
        (demo_app.extensions["caseapp.settings"].instance_dir / "demo-credentials.json").read_text(
            encoding="utf-8"
        )
    )
    assert {"role": "officer", "unit": "QT-PDH"} in next(
        a["grants"] for a in accounts if a["username"] == unusual.SECONDED[0]
    )


def test_the_count_holds_reviews_to_what_their_reviewer_saw(app, db, world):
    """The nightly count: a district auditor cannot clear the chain's health; a review of one
    district's reads does not cover the same person's reads in another district."""
    d1, d2 = db.get(Unit, world.units["D1"]), db.get(Unit, world.units["D2"])
    auditor_d1 = db.get(User, make_user(db, keyring(), "auditor.d1", d1, [("auditor", d1)]).id)
    auditor_d2 = db.get(User, make_user(db, keyring(), "auditor.d2", d2, [("auditor", d2)]).id)
    db.commit()
    # (a) No checkpoint signed: the district auditor may not review that; nothing is written.
    stale = next(i for i in attention.items(db, auditor_d2) if i.kind == "checkpoint")
    before = db.scalar(select(func.max(AuditEvent.seq)))
    with pytest.raises(Forbidden):
        attention.mark_reviewed(db, auditor_d2, stale.key, "Đã xem")
    db.rollback()
    assert db.scalar(select(func.count()).select_from(AttentionReview)) == 0
    assert db.scalar(select(func.max(AuditEvent.seq))) == before
    result = _run(app)
    assert result.exit_code == 1 and "(1 high" in _lines(result)[-1], result.output
    assert any(line.startswith("HIGH") and "checkpoint" in line for line in _lines(result))

    # (b) Reads above the ceiling in D1, reviewed by the D1 auditor: the count drops them ...
    integrity.checkpoint(db, None, keyring())
    officer = db.get(User, world["officer_p"].id)
    school_a, school_c = db.get(Unit, world.units["SCH-A"]), db.get(Unit, world.units["SCH-C"])
    ceiling = app.extensions["caseapp.settings"].attention_read_ceiling
    for n in range(ceiling + 1):
        record(db, officer, "case.view_confidential", unit=school_a, object_ref=f"A-{n}")
    db.commit()
    day = next(i for i in attention.items(db, auditor_d1) if i.kind == "ceiling")
    attention.mark_reviewed(db, auditor_d1, day.key, "Đã hỏi")
    db.commit()
    assert _run(app).exit_code == 0
    # ... until the same person reads 200 cases in D2: more than was reviewed.
    for n in range(200):
        record(db, officer, "case.view_confidential", unit=school_c, object_ref=f"C-{n}")
    db.commit()
    result = _run(app)
    assert result.exit_code == 1, result.output
    high = [line for line in _lines(result) if line.startswith("HIGH")]
    assert len(high) == 1 and "officer.p ceiling" in high[0] and str(ceiling + 201) in high[0]
