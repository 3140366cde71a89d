"""The done-when of issue 15 part 3 on the demo: `retention run --dry-run` lists the cases due
(one of them held) and changes nothing; a real run shreds them, keeps the held one, and the
audit chain verifies (`audit verify`); a second run finds nothing more."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select

from caseapp import create_app, migrate
from caseapp.db import get_session
from caseapp.models import AuditEvent, Case, CaseAttachment, LegalHold


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
    with application.app_context():
        seeded = application.test_cli_runner().invoke(args=["seed-demo", "--cases", "100"])
    assert seeded.exit_code == 0, seeded.output
    yield application
    application.extensions["caseapp.engine"].dispose()


def _invoke(app, *args: str):
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args))


def _state(app) -> tuple:
    with app.app_context():
        s = get_session()
        return (
            s.scalar(select(func.count()).select_from(AuditEvent)),
            s.scalar(select(func.count()).where(Case.key_destroyed_at.is_not(None))),
            s.scalar(select(func.count()).where(CaseAttachment.discarded_at.is_not(None))),
        )


def test_the_demo_has_cases_due_and_a_real_run_shreds_them(demo_app):
    with demo_app.app_context():
        assert get_session().scalar(select(func.count()).select_from(Case)) == 100
    before = _state(demo_app)
    dry = _invoke(demo_app, "retention", "run", "--dry-run")
    assert dry.exit_code == 0, dry.output
    case_lines = [line for line in dry.output.splitlines() if line.startswith("case ")]
    assert len(case_lines) == 3, dry.output
    assert sum("HELD" in line for line in case_lines) == 1
    assert all("retention_case_adult" in line for line in case_lines)
    assert any(line.startswith("attachment ") for line in dry.output.splitlines())
    assert "nothing was changed and no audit event was written" in dry.output
    assert _state(demo_app) == before

    real = _invoke(demo_app, "retention", "run")
    assert real.exit_code == 0, real.output
    assert "2 cases shredded" in real.output and "1 held cases kept" in real.output
    with demo_app.app_context():
        s = get_session()
        held = s.scalar(select(LegalHold.case_id).where(LegalHold.released_at.is_(None)))
        assert s.get(Case, held).key_destroyed_at is None
        assert s.get(Case, held).wrapped_key is not None
    assert _state(demo_app)[1] == before[1] + 2

    verified = _invoke(demo_app, "audit", "verify")
    assert verified.exit_code == 0, verified.output

    after = _state(demo_app)
    again = _invoke(demo_app, "retention", "run")
    assert again.exit_code == 0 and "0 cases shredded" in again.output
    assert _state(demo_app) == after  # nothing more, not even a summary event
