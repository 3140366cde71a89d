"""seed-demo on an empty database (the contract of DESIGN.md section 9: the credentials file),
a demo account signing in with it, seeding only once, an intact audit chain afterwards; and
create-user giving the named grant."""

from __future__ import annotations

import base64
import json
import os
import stat
from dataclasses import replace

import pytest
from sqlalchemy import func, inspect, select

from caseapp import create_app, migrate
from caseapp.db import Base, get_session
from caseapp.models import AuditEvent, GenderPlan, Grant, UnitStatistics, User
from caseapp.security import totp
from tests.factories import Person
from tests.functional.signin_support import (
    code_step,
    full_sign_in,
    lands_on,
    password_step,
    steady_counter,
)

CASES = 4  # a few demo cases keep it fast and still exercise their seeding


@pytest.fixture()
def empty_app(settings, fresh_engine, tmp_path):
    """The app on a separate, empty, migrated database, with its own instance directory."""
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


def _invoke(app, *args: str):
    """Run a command as `flask --app wsgi ...` does: in an application context of its own
    (the test runner pushes none for commands that are not declared on an AppGroup)."""
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args))


def _row_counts(app) -> dict[str, int]:
    with app.app_context():
        s = get_session()
        names = set(inspect(s.connection()).get_table_names())
        return {
            t.name: s.scalar(select(func.count()).select_from(t))
            for t in Base.metadata.sorted_tables
            if t.name in names
        }


def _credentials(app) -> tuple[str, list]:
    path = app.extensions["caseapp.settings"].instance_dir / "demo-credentials.json"
    assert path.is_file()
    mode = stat.S_IMODE(os.stat(path).st_mode)
    with open(path, encoding="utf-8") as handle:
        return oct(mode), json.load(handle)


def test_seed_demo_then_sign_in_seed_again_and_verify(empty_app):
    result = _invoke(empty_app, "seed-demo", "--cases", str(CASES))
    assert result.exit_code == 0, result.output

    mode, accounts = _credentials(empty_app)
    assert mode == "0o600"
    assert isinstance(accounts, list) and accounts
    roles = set()
    for account in accounts:
        assert set(account) >= {"username", "password", "totp_secret", "grants"}
        assert isinstance(account["username"], str) and account["username"]
        assert isinstance(account["password"], str) and account["password"]
        secret = account["totp_secret"]
        assert secret == secret.upper() and len(base64.b32decode(secret)) >= 16  # base32
        assert isinstance(account["grants"], list) and account["grants"]
        for grant in account["grants"]:
            assert set(grant) == {"role", "unit"}
            roles.add(grant["role"])
    assert roles == {"admin", "officer", "focal_point", "auditor", "head"}
    assert len({a["username"] for a in accounts}) == len(accounts)

    counts = _row_counts(empty_app)
    assert counts["users"] == len(accounts) and counts["cases"] == CASES

    # Every account in the file exists with exactly the grants it lists (unit codes).
    with empty_app.app_context():
        s = get_session()
        for account in accounts:
            user = s.scalar(select(User).where(User.username == account["username"]))
            assert user is not None and user.active
            held = sorted((g.role, g.unit.code) for g in user.active_grants)
            assert held == sorted((g["role"], g["unit"]) for g in account["grants"])
        # Each school has a head and this year's plan, approved by that head (three targets).
        heads = {
            a["grants"][0]["unit"]: a["username"]
            for a in accounts
            if a["grants"][0]["role"] == "head"
        }
        schools = {a["grants"][0]["unit"] for a in accounts if a["username"].startswith("daumoi.")}
        found = list(s.scalars(select(GenderPlan)))
        assert {p.unit.code for p in found} == schools and schools <= set(heads)
        for plan in found:
            assert plan.status == "approved" and len(plan.targets) == 3
            assert plan.approved_by.username == heads[plan.unit.code]
            assert plan.updated_by.username != plan.approved_by.username
        # ... and its statistics by sex of the two periods of the year being reported now.
        stats = list(s.scalars(select(UnitStatistics)))
        assert sorted(r.unit.code for r in stats) == sorted(list(schools) * 2)
        for row in stats:
            figures = json.loads(row.figures)
            for sex in ("female", "male"):
                parts = ("teachers", "managers", "employees")
                assert figures[f"staff_total_{sex}"] == sum(figures[f"{p}_{sex}"] for p in parts)
        # Each ward or commune office has a head too.
        assert any(a["username"].startswith("truongphong.") for a in accounts)

    # A demo account signs in with its password and a code from its TOTP secret.
    focal = next(a for a in accounts if a["grants"][0]["role"] == "focal_point")
    full_sign_in(
        empty_app.test_client(),
        Person(0, focal["username"], focal["password"], totp.from_base32(focal["totp_secret"])),
    )
    # ... and not with a wrong code.
    client = empty_app.test_client()
    assert lands_on(password_step(client, focal["username"], focal["password"]), "/login/2fa")
    wrong = totp.code_at(totp.from_base32(focal["totp_secret"]), steady_counter() + 10)
    assert not lands_on(code_step(client, wrong), "/")

    # Seeding again on a database that holds data adds nothing; without --if-empty it refuses.
    before = _row_counts(empty_app)
    again = _invoke(empty_app, "seed-demo", "--if-empty", "--cases", str(CASES))
    assert again.exit_code == 0, again.output
    assert _row_counts(empty_app) == before
    assert _credentials(empty_app)[1] == accounts  # the file is not rewritten either
    refused = _invoke(empty_app, "seed-demo", "--cases", str(CASES))
    assert refused.exit_code != 0
    assert _row_counts(empty_app) == before

    verified = _invoke(empty_app, "audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "audit chain intact" in verified.output


def test_create_user_gives_the_named_grant(empty_app):
    assert _invoke(empty_app, "seed-demo", "--cases", "0").exit_code == 0
    with empty_app.app_context():
        head = get_session().scalar(select(func.max(AuditEvent.seq)))
    result = _invoke(
        empty_app,
        "create-user",
        "--username",
        "Can.Bo.Moi",
        "--full-name",
        "Cán Bộ Mới",
        "--email",
        "canbo.moi@example.org",
        "--unit",
        "qt-pdh",
        "--role",
        "officer",
        "--password",
        "một mật khẩu đủ dài 2024",
    )
    assert result.exit_code == 0, result.output
    with empty_app.app_context():
        s = get_session()
        user = s.scalar(select(User).where(User.username == "can.bo.moi"))
        assert user is not None and user.full_name == "Cán Bộ Mới" and user.unit.code == "QT-PDH"
        assert not user.must_change_password and user.totp_secret is None  # set up at sign-in
        grants = list(s.scalars(select(Grant).where(Grant.user_id == user.id)))
        assert [(g.role, g.unit.code, g.revoked_at) for g in grants] == [
            ("officer", "QT-PDH", None)
        ]
        actions = list(
            s.scalars(
                select(AuditEvent.action).where(AuditEvent.seq > head).order_by(AuditEvent.seq)
            )
        )
        assert actions == ["user.create", "user.grant"]
    # The new account signs in with its password; the second factor is set up next.
    assert lands_on(
        password_step(empty_app.test_client(), "can.bo.moi", "một mật khẩu đủ dài 2024"),
        "/login/enrol",
    )
    # An unknown unit is refused without --new-unit-name, and nothing is created.
    before = _row_counts(empty_app)
    unknown = _invoke(
        empty_app,
        "create-user",
        "--username",
        "nguoi.khac",
        "--full-name",
        "Người Khác",
        "--unit",
        "NOPE",
        "--password",
        "một mật khẩu đủ dài 2024",
    )
    assert unknown.exit_code != 0
    assert _row_counts(empty_app) == before


def test_the_demo_is_a_2026_province_with_its_history(empty_app):
    """The district offices are closed since 1 July 2025, their schools sit under wards and
    communes; the cases they received before that day still roll up through the old office."""
    from datetime import date

    from caseapp.demo.seed import REFORM, REFORM_DAY
    from caseapp.models import Case, CasePerson, CaseStep, Unit
    from caseapp.services.reports.tables import build

    assert _invoke(empty_app, "seed-demo", "--cases", "60").exit_code == 0
    _mode, accounts = _credentials(empty_app)
    grants = {(g["role"], g["unit"]) for a in accounts for g in a["grants"]}
    assert {("officer", "QT"), ("officer", "QT-PDH"), ("officer", "QT-XVL")} <= grants
    assert {("admin", "QT"), ("admin", "QT-PDH"), ("auditor", "QT")} <= grants
    with empty_app.app_context():
        s = get_session()
        by_code = {u.code: u for u in s.scalars(select(Unit))}
        assert by_code["QT-DH"].valid_to == REFORM_DAY and by_code["QT-VL"].valid_to == REFORM_DAY
        assert {by_code[c].kind for c in ("QT-PDH", "QT-XVL", "QT-DKCC")} == {"commune"}
        assert by_code["QT-DKCC"].local_type == "special_zone"
        assert by_code["DH-THPTLQD"].parent.code == "QT" and by_code["QT-GDTX"].parent.code == "QT"
        assert any(u.ownership == "private" for u in by_code.values())
        for school, parent in REFORM:
            assert by_code[school].parent.code == parent
        dong_ha = [by_code[s].id for s, _p in REFORM if s.startswith("DH-")]
        received = list(s.scalars(select(Case.received_on).where(Case.unit_id.in_(dong_ha))))
        before = sum(1 for day in received if day < REFORM_DAY)
        after = len(received) - before
        span_before = (date(2024, 1, 1), date(2025, 6, 30))
        span_after = (REFORM_DAY, date(2026, 12, 31))
        assert build(s, by_code["QT-DH"], *span_before).table("per_unit").total() == before
        assert build(s, by_code["QT-DH"], *span_after).table("per_unit").total() == 0
        wards = [by_code["QT-PDH"], by_code["QT-PNDH"]]
        assert sum(build(s, w, *span_after).table("per_unit").total() for w in wards) == after
        assert before and after, received  # the seeded days straddle the reform
        reform_events = s.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "org.reform")
        )
        assert reform_events == 1
        # Some incidents hurt several pupils; each of them has their own support steps.
        several = s.scalars(
            select(CasePerson.case_id)
            .where(CasePerson.position == "harmed")
            .group_by(CasePerson.case_id)
            .having(func.count() > 1)
        ).all()
        assert several
        case = s.get(Case, several[0])
        supported = set(
            s.scalars(
                select(CaseStep.person_id).where(
                    CaseStep.case_id == case.id, CaseStep.kind == "support"
                )
            )
        )
        assert not supported or supported == {p.id for p in case.harmed_people}
