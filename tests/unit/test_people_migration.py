"""Migration 0012 on a populated database: some 200 single-person cases of 0011 (steps,
consents, name-index rows, one name sealed as the 0011 service sealed it) keep every figure of
the report tables, their sealed name still opens, and the downgrade gives back the same rows;
the downgrade refuses a case it cannot fold back, changing nothing."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.orm import Session

from caseapp import migrate
from caseapp.models import Case, User
from caseapp.runtime import keyring
from caseapp.security import envelope
from caseapp.services.cases import content as case_content
from tests.factories import make_unit, make_user

CASES = 200
NAME = "Nguyễn Thị Hoa"
SEXES = ("female", "male", "other", "not_recorded")
BANDS = ("6-10", "11-14", "15-17", "18-24")
ROLES = ("pupil", "teacher", "staff", "other")
RELATIONS = ("pupil_peer", "teacher", "family_member", "stranger")
VIOLENCE = ("physical", "psychological", "cyber")


def _table(conn, name: str) -> sa.Table:
    return sa.Table(name, sa.MetaData(), autoload_with=conn)


def _world(engine) -> tuple[int, int]:
    """A school and its focal point, made through the services at 0011 (their tables do not
    change in 0012): (school id, focal point id)."""
    with Session(engine) as s:
        province = make_unit(s, None, "MIG", "province", "Sở Giáo dục (di trú)")
        commune = make_unit(s, province, "MIG-C", "commune", "Xã Di Trú")
        school = make_unit(s, commune, "MIG-S", "school", "Trường Tiểu học Di Trú")
        focal = make_user(s, keyring(), "focal.mig", school, [("focal_point", school)])
        s.commit()
        return school.id, focal.id


def _populate(engine, school_id: int, user_id: int) -> str:
    """The 0011 rows, by SQL; the public id of the case whose name is sealed."""
    rng = random.Random(12)
    now = datetime(2026, 3, 1, tzinfo=UTC)
    sealed_case = ""
    with engine.begin() as conn:
        cases, steps, consents, index, violence = (
            _table(conn, n)
            for n in (
                "cases",
                "case_steps",
                "case_consents",
                "case_name_index",
                "case_violence_types",
            )
        )
        for n in range(1, CASES + 1):
            public_id = str(uuid.uuid4())
            received = date(2026, 1, 1) + timedelta(days=n % 60)
            band = rng.choice(BANDS)
            row = {
                "public_id": public_id,
                "reference": f"MIG-S-2026-{n:04d}",
                "unit_id": school_id,
                "year": 2026,
                "number": n,
                "status": rng.choice(("new", "verifying", "supporting", "closed")),
                "received_on": received,
                "incident_on": None,
                "incident_date_approximate": False,
                "received_via": "in_person",
                "reporter_kind": "teacher",
                "setting": "in_school",
                "child": band in ("6-10", "11-14"),
                "harmed_sex": rng.choice(SEXES),
                "harmed_age_band": band,
                "harmed_age_years": None,
                "harmed_role": rng.choice(ROLES),
                "harmed_disability": rng.choice(("yes", "no", "unknown")),
                "harmed_ethnic_minority": rng.choice(("yes", "no", "unknown")),
                "perpetrator_count": rng.choice((1, 1, 2, 3)),
                "perpetrator_sex": rng.choice(SEXES),
                "perpetrator_age_band": rng.choice(BANDS),
                "perpetrator_relationship": rng.choice(RELATIONS),
                "risk_level": "medium",
                "serious_risk_to_child": False,
                "created_by_id": user_id,
                "assigned_to_id": user_id,
                "created_at": now,
                "updated_at": now,
                "version": 1,
            }
            if n == 1:  # sealed as the 0011 service sealed it: AD of the case's column
                dek = envelope.new_data_key()
                ad = envelope.field_ad(public_id, "cases", public_id, "harmed_name")
                row |= {
                    "wrapped_key": envelope.wrap_data_key(keyring(), dek, public_id),
                    "harmed_name": envelope.seal_text(dek, NAME, ad),
                    "perpetrator_names": envelope.seal_text(
                        dek,
                        "Trần Văn A\nLê Văn B",
                        envelope.field_ad(public_id, "cases", public_id, "perpetrator_names"),
                    ),
                }
                sealed_case = public_id
            case_id = conn.execute(cases.insert().values(**row)).inserted_primary_key[0]
            for kind in rng.sample(VIOLENCE, rng.randint(1, 2)):
                conn.execute(violence.insert().values(case_id=case_id, type=kind))
            for kind in ("verification", "support", "follow_up", "discipline")[: n % 5]:
                conn.execute(
                    steps.insert().values(
                        uid=str(uuid.uuid4()),
                        case_id=case_id,
                        kind=kind,
                        created_at=now,
                        consent_override=False,
                        status="provided" if kind == "support" else None,
                        measure="reminder" if kind == "discipline" else None,
                        version=1,
                    )
                )
            if n % 3:
                conn.execute(
                    consents.insert().values(
                        case_id=case_id,
                        party="person_harmed",
                        purpose="referral",
                        given_on=received,
                        created_at=now,
                    )
                )
            for role in ("harmed", "perpetrator"):
                conn.execute(
                    index.insert().values(
                        case_id=case_id, role=role, digest=f"{n:060d}{role[:4]}", key_id="k"
                    )
                )
    return sealed_case


OLD_FIGURES = {
    "violence_by_sex": "SELECT v.type, c.harmed_sex, COUNT(*) FROM cases c "
    "JOIN case_violence_types v ON v.case_id = c.id GROUP BY v.type, c.harmed_sex",
    "age_by_sex": "SELECT harmed_age_band, harmed_sex, COUNT(*) FROM cases "
    "GROUP BY harmed_age_band, harmed_sex",
    "role_by_sex": "SELECT harmed_role, harmed_sex, COUNT(*) FROM cases "
    "GROUP BY harmed_role, harmed_sex",
    "perpetrators_by_relationship_sex": "SELECT perpetrator_relationship, perpetrator_sex, "
    "SUM(perpetrator_count) FROM cases GROUP BY perpetrator_relationship, perpetrator_sex",
    "status_at_end": "SELECT status, harmed_sex, COUNT(*) FROM cases GROUP BY status, harmed_sex",
    "support_by_service": "SELECT s.kind, c.harmed_sex, COUNT(DISTINCT c.id) FROM cases c "
    "JOIN case_steps s ON s.case_id = c.id GROUP BY s.kind, c.harmed_sex",
}
NEW_FIGURES = {
    "violence_by_sex": "SELECT v.type, c.harmed_sex_group, COUNT(*) FROM cases c "
    "JOIN case_violence_types v ON v.case_id = c.id GROUP BY v.type, c.harmed_sex_group",
    "age_by_sex": "SELECT age_band, sex, COUNT(*) FROM case_persons "
    "WHERE position = 'harmed' AND withdrawn_at IS NULL GROUP BY age_band, sex",
    "role_by_sex": "SELECT role, sex, COUNT(*) FROM case_persons "
    "WHERE position = 'harmed' AND withdrawn_at IS NULL GROUP BY role, sex",
    "perpetrators_by_relationship_sex": "SELECT relationship, sex, COUNT(*) FROM case_persons "
    "WHERE position = 'perpetrator' AND withdrawn_at IS NULL GROUP BY relationship, sex",
    "status_at_end": "SELECT status, harmed_sex_group, COUNT(*) FROM cases "
    "GROUP BY status, harmed_sex_group",
    "support_by_service": "SELECT s.kind, c.harmed_sex_group, COUNT(DISTINCT c.id) FROM cases c "
    "JOIN case_steps s ON s.case_id = c.id GROUP BY s.kind, c.harmed_sex_group",
}


def _figures(engine, queries: dict) -> dict:
    with engine.connect() as conn:
        return {
            name: {tuple(r[:-1]): int(r[-1]) for r in conn.execute(sa.text(q)) if r[-1]}
            for name, q in queries.items()
        }


def _rows(engine) -> dict:
    """Every row of the tables 0012 changes, by column name (column order may differ)."""
    out = {}
    with engine.connect() as conn:
        for name in ("cases", "case_steps", "case_consents", "case_name_index"):
            table = _table(conn, name)
            out[name] = sorted(
                (tuple(sorted(dict(r).items())) for r in conn.execute(sa.select(table)).mappings()),
                key=repr,
            )
    return out


@pytest.fixture()
def populated(app, fresh_engine):
    with app.app_context():
        migrate.upgrade(fresh_engine, "0011")
        school_id, user_id = _world(fresh_engine)
        sealed = _populate(fresh_engine, school_id, user_id)
        yield fresh_engine, user_id, sealed


def test_upgrade_keeps_every_figure_and_the_downgrade_every_row(app, populated):
    engine, user_id, sealed = populated
    old, rows = _figures(engine, OLD_FIGURES), _rows(engine)
    assert sum(old["age_by_sex"].values()) == CASES
    migrate.upgrade(engine, "0012")
    assert _figures(engine, NEW_FIGURES) == old
    with engine.connect() as conn:
        # Every step about a person names one; verification names none.
        assert (
            conn.scalar(
                sa.text(
                    "SELECT COUNT(*) FROM case_steps WHERE (kind = 'verification') = "
                    "(person_id IS NOT NULL)"
                )
            )
            == 0
        )
        for table in ("case_consents", "case_name_index"):
            assert (
                conn.scalar(sa.text(f"SELECT COUNT(*) FROM {table} WHERE person_id IS NULL")) == 0
            )
    migrate.upgrade(engine, "head")  # today's models read the rows (later columns exist)
    with Session(engine) as s:
        case = s.scalar(sa.select(Case).where(Case.public_id == sealed))
        focal = s.get(User, user_id)
        opened = case_content.open_content(s, focal, case)
        assert opened.harmed_name == NAME
        assert opened.perpetrator_names == "Trần Văn A\nLê Văn B"
        assert [p.person.legacy_field for p in opened.people][:2] == ["harmed", "perpetrator"]
        s.rollback()
    migrate.downgrade(engine, "0011")
    assert _rows(engine) == rows


def test_the_downgrade_refuses_what_it_cannot_fold_back(app, populated):
    engine, user_id, sealed = populated
    migrate.upgrade(engine, "0012")
    with engine.begin() as conn:
        case_id = conn.scalar(sa.text("SELECT MIN(id) FROM cases"))
        persons = _table(conn, "case_persons")
        conn.execute(
            persons.insert().values(
                uid=str(uuid.uuid4()),
                case_id=case_id,
                position="harmed",
                ordinal=2,
                sex="male",
                age_band="11-14",
                disability="unknown",
                ethnic_minority="unknown",
                child=True,
                created_at=datetime.now(UTC),
                version=1,
            )
        )
    with pytest.raises(migrate.MigrationRefused, match="several persons harmed"):
        migrate.downgrade(engine, "0011")
    assert migrate.current_heads(engine) == {"0012"}
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT COUNT(*) FROM case_persons")) > CASES


def test_the_downgrade_guard_lets_only_folded_tables_go(app, populated, monkeypatch):
    """Dropping case_persons is allowed because its rows fold into cases, and only so."""
    engine, _user_id, _sealed = populated
    migrate.upgrade(engine, "0012")
    assert migrate.FOLDED == {"case_persons": "cases"}
    monkeypatch.setattr(migrate, "FOLDED", {})
    with pytest.raises(migrate.DowngradeRefused, match="case_persons"):
        migrate.downgrade(engine, "0011")
    assert migrate.current_heads(engine) == {"0012"}


def test_a_migrated_person_edited_is_resealed_and_then_holds_the_downgrade(app, populated):
    from caseapp.services.cases import people

    engine, user_id, sealed = populated
    migrate.upgrade(engine, "head")  # today's models read the rows (later columns exist)
    with app.test_request_context(), Session(engine) as s:
        case = s.scalar(sa.select(Case).where(Case.public_id == sealed))
        focal = s.get(User, user_id)
        person = case.harmed_people[0]
        data = people.PersonInput(
            position="harmed",
            sex=person.sex,
            age_band=person.age_band,
            role=person.role,
            child=person.child,
            name=NAME,
            contact="Lớp 5A",
        )
        people.update_person(s, focal, case, person.uid, data, case.version)
        s.commit()
        assert person.legacy_field is None
        opened = case_content.open_content(s, focal, case)
        assert (opened.harmed_name, opened.harmed_contact) == (NAME, "Lớp 5A")
        s.commit()
    with pytest.raises(migrate.MigrationRefused, match="resealed"):
        migrate.downgrade(engine, "0011")
    # Refused: the database stays at the latest revision.
    latest = ScriptDirectory.from_config(migrate.alembic_config()).get_heads()
    assert migrate.current_heads(engine) == set(latest)
