"""What every benchmark needs: an app on an empty, migrated database, a ward of schools (the
office of the two-tier organisation; seed_district keeps its old name) with an officer and a
focal point, a signed-in test client, and percentiles."""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

from caseapp import create_app, migrate
from caseapp.db import get_session
from caseapp.services.accounts import users
from caseapp.services.org import units
from config import load_settings
from tests.factories import sign_in_client

PASSWORD = "bench password 0123456789"


def make_app(url: str, instance: Path):
    os.environ["CASEAPP_INSTANCE"] = str(instance)
    settings = load_settings(
        "testing", environ=dict(os.environ, CASEAPP_TEST_DB=url, CASEAPP_INSTANCE=str(instance))
    )
    return create_app(settings)


def empty_app(url: str, instance: Path):
    """The app on ``url``, which must be an empty database; migrated to head."""
    app = make_app(url, instance)
    engine = app.extensions["caseapp.engine"]
    with engine.connect() as conn:
        tables = engine.dialect.get_table_names(conn)
    if tables:
        sys.exit(f"the database is not empty ({len(tables)} tables): give an empty one")
    migrate.upgrade(engine)
    return app


def seed_district(app, prefix: str, schools: int) -> dict:
    """A province, a ward with ``schools`` schools, an officer of the ward and a focal
    point of the first school (created through the services, so audited like real ones)."""
    with app.app_context():
        s = get_session()
        province = units.create_unit(
            s, None, None, f"{prefix}-P", "Sở Giáo dục tỉnh Bench", "province"
        )
        district = units.create_unit(
            s, None, province, f"{prefix}-D", "Ủy ban nhân dân phường Bench", "commune"
        )
        made = [
            units.create_unit(
                s, None, district, f"{prefix}-S{i:02d}", f"Trường THCS số {i}", "school"
            )
            for i in range(1, schools + 1)
        ]
        officer, _ = users.create_user(
            s, None, "officer.bench", "Officer Bench", "", district, PASSWORD
        )
        users.grant_role(s, None, officer, "officer", district)
        focal, _ = users.create_user(s, None, "focal.bench", "Focal Bench", "", made[0], PASSWORD)
        users.grant_role(s, None, focal, "focal_point", made[0])
        s.commit()
        return {
            "district_path": district.path,
            "school_path": made[0].path,
            "school_id": made[0].id,
            "schools": [(u.id, u.code) for u in made],
            "officer": officer.id,
            "focal": focal.id,
        }


def signed_in_client(app, user_id: int):
    """A test client with a server-side session after both factors
    (tests.factories.sign_in_client), without replaying the sign-in screens."""
    client = app.test_client()
    with app.app_context():
        s = get_session()
        sign_in_client(client, s, user_id)
        s.commit()
    return client


def percentiles(times: list[float]) -> tuple[float, float]:
    """Median and 95th percentile."""
    times = sorted(times)
    return statistics.median(times), times[max(0, round(0.95 * len(times)) - 1)]
