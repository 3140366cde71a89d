"""People of a case: persons harmed and alleged perpetrators in case_persons, each with their
own facts and sealed fields; the case keeps the sex of its persons harmed (harmed_sex_group,
"mixed" when they differ) and whether any is a child; steps, consents and the name index name
the person they are about.

Pure SQL and uuid4, no keyring: the sealed blobs are copied as they are and the rows marked
(legacy_field) so the content service opens them with the associated data they were sealed
with (the case's columns); they are resealed with their own on the next edit. A case of
perpetrator_count N gets N perpetrator rows, the first holding the names.

The downgrade folds the people back into the case when each case still fits one person harmed
and one kind of perpetrator, and refuses (one line, nothing changed) otherwise.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 00:10:00
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

HARMED_BLOBS = {
    "name": "harmed_name",
    "contact": "harmed_contact",
    "guardian_name": "guardian_name",
    "guardian_contact": "guardian_contact",
}
# Which steps are about the person harmed, which about an alleged perpetrator.
HARMED_STEPS = ("support", "referral", "follow_up")
PERPETRATOR_STEPS = ("discipline",)

_persons = sa.table(
    "case_persons",
    *(
        sa.column(name, kind)
        for name, kind in (
            ("id", sa.Integer),
            ("uid", sa.String),
            ("case_id", sa.Integer),
            ("position", sa.String),
            ("ordinal", sa.Integer),
            ("sex", sa.String),
            ("age_band", sa.String),
            ("age_years", sa.Integer),
            ("role", sa.String),
            ("grade", sa.Integer),
            ("disability", sa.String),
            ("ethnic_minority", sa.String),
            ("relationship", sa.String),
            ("child", sa.Boolean),
            ("name", sa.LargeBinary),
            ("contact", sa.LargeBinary),
            ("guardian_name", sa.LargeBinary),
            ("guardian_contact", sa.LargeBinary),
            ("legacy_field", sa.String),
            ("created_at", sa.DateTime(timezone=True)),
            ("withdrawn_at", sa.DateTime(timezone=True)),
            ("version", sa.Integer),
        )
    ),
)

_OLD_CASE_COLUMNS = (
    ("harmed_age_band", sa.String(length=8), False),
    ("harmed_age_years", sa.Integer(), True),
    ("harmed_role", sa.String(length=10), False),
    ("harmed_disability", sa.String(length=8), False),
    ("harmed_ethnic_minority", sa.String(length=8), False),
    ("perpetrator_count", sa.Integer(), False),
    ("perpetrator_sex", sa.String(length=15), False),
    ("perpetrator_age_band", sa.String(length=8), False),
    ("perpetrator_relationship", sa.String(length=20), False),
    ("harmed_name", sa.LargeBinary(), True),
    ("harmed_contact", sa.LargeBinary(), True),
    ("guardian_name", sa.LargeBinary(), True),
    ("guardian_contact", sa.LargeBinary(), True),
    ("perpetrator_names", sa.LargeBinary(), True),
)


def _cases(*extra: str) -> sa.TableClause:
    return sa.table(
        "cases",
        sa.column("id", sa.Integer),
        sa.column("child", sa.Boolean),
        sa.column("created_at", sa.DateTime(timezone=True)),
        *(sa.column(n) for n in extra),
    )


def _person_links() -> None:
    """person_id of steps, consents and name-index rows: the harmed row, the first perpetrator."""
    conn = op.get_bind()
    first = (
        "SELECT p.id FROM case_persons p WHERE p.case_id = {t}.case_id "
        "AND p.position = '{pos}' AND p.ordinal = 1"
    )
    conn.execute(
        sa.text(
            f"UPDATE case_consents SET person_id = ({first.format(t='case_consents', pos='harmed')})"
        )
    )
    kinds = ", ".join(f"'{k}'" for k in HARMED_STEPS)
    conn.execute(
        sa.text(
            f"UPDATE case_steps SET person_id = ({first.format(t='case_steps', pos='harmed')}) "
            f"WHERE kind IN ({kinds})"
        )
    )
    conn.execute(
        sa.text(
            f"UPDATE case_steps SET person_id = ({first.format(t='case_steps', pos='perpetrator')}) "
            f"WHERE kind = '{PERPETRATOR_STEPS[0]}'"
        )
    )
    for pos in ("harmed", "perpetrator"):
        conn.execute(
            sa.text(
                f"UPDATE case_name_index SET person_id = "
                f"({first.format(t='case_name_index', pos=pos)}) WHERE role = '{pos}'"
            )
        )


def upgrade() -> None:
    op.create_table(
        "case_persons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.String(length=12), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("sex", sa.String(length=15), nullable=False),
        sa.Column("age_band", sa.String(length=8), nullable=False),
        sa.Column("age_years", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=10), nullable=True),
        sa.Column("grade", sa.Integer(), nullable=True),
        sa.Column("disability", sa.String(length=8), nullable=False),
        sa.Column("ethnic_minority", sa.String(length=8), nullable=False),
        sa.Column("relationship", sa.String(length=20), nullable=True),
        sa.Column("child", sa.Boolean(), nullable=False),
        sa.Column("name", sa.LargeBinary(), nullable=True),
        sa.Column("contact", sa.LargeBinary(), nullable=True),
        sa.Column("guardian_name", sa.LargeBinary(), nullable=True),
        sa.Column("guardian_contact", sa.LargeBinary(), nullable=True),
        sa.Column("legacy_field", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_persons_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_persons")),
        sa.UniqueConstraint("case_id", "position", "ordinal", name=op.f("uq_case_persons_case_id")),
        sa.UniqueConstraint("uid", name=op.f("uq_case_persons_uid")),
    )
    with op.batch_alter_table("case_persons", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_persons_case_id"), ["case_id"], unique=False)
    for name in ("case_consents", "case_name_index", "case_steps"):
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.add_column(sa.Column("person_id", sa.Integer(), nullable=True))
            batch_op.create_index(batch_op.f(f"ix_{name}_person_id"), ["person_id"], unique=False)
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{name}_person_id_case_persons"),
                "case_persons",
                ["person_id"],
                ["id"],
            )

    conn = op.get_bind()
    cases = _cases(*(name for name, _kind, _null in _OLD_CASE_COLUMNS), "harmed_sex")
    rows = []
    for case in conn.execute(sa.select(cases).order_by(cases.c.id)).mappings():
        harmed_blobs = {k: case[v] for k, v in HARMED_BLOBS.items()}
        rows.append(
            {
                "uid": str(uuid.uuid4()),
                "case_id": case["id"],
                "position": "harmed",
                "ordinal": 1,
                "sex": case["harmed_sex"],
                "age_band": case["harmed_age_band"],
                "age_years": case["harmed_age_years"],
                "role": case["harmed_role"],
                "grade": None,
                "disability": case["harmed_disability"],
                "ethnic_minority": case["harmed_ethnic_minority"],
                "relationship": None,
                "child": case["child"],
                **harmed_blobs,
                "legacy_field": "harmed",
                "created_at": case["created_at"],
                "withdrawn_at": None,
                "version": 1,
            }
        )
        for ordinal in range(1, max(case["perpetrator_count"] or 1, 1) + 1):
            rows.append(
                {
                    "uid": str(uuid.uuid4()),
                    "case_id": case["id"],
                    "position": "perpetrator",
                    "ordinal": ordinal,
                    "sex": case["perpetrator_sex"],
                    "age_band": case["perpetrator_age_band"],
                    "age_years": None,
                    "role": None,
                    "grade": None,
                    "disability": "unknown",
                    "ethnic_minority": "unknown",
                    "relationship": case["perpetrator_relationship"],
                    "child": False,
                    "name": case["perpetrator_names"] if ordinal == 1 else None,
                    "contact": None,
                    "guardian_name": None,
                    "guardian_contact": None,
                    "legacy_field": "perpetrator" if ordinal == 1 else None,
                    "created_at": case["created_at"],
                    "withdrawn_at": None,
                    "version": 1,
                }
            )
        if len(rows) >= 2000:
            conn.execute(_persons.insert(), rows)
            rows = []
    if rows:
        conn.execute(_persons.insert(), rows)
    _person_links()

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.alter_column(
            "harmed_sex",
            new_column_name="harmed_sex_group",
            existing_type=sa.String(length=15),
            existing_nullable=False,
        )
        for name, _kind, _null in _OLD_CASE_COLUMNS:
            batch_op.drop_column(name)


# Why a case's people cannot be folded back into the columns of 0011 (SQL, one per reason).
_REFUSALS = (
    (
        "several persons harmed",
        "SELECT case_id FROM case_persons WHERE position = 'harmed' "
        "GROUP BY case_id HAVING COUNT(*) > 1",
    ),
    (
        "no person harmed or no alleged perpetrator",
        "SELECT id FROM cases c WHERE NOT EXISTS (SELECT 1 FROM case_persons p "
        "WHERE p.case_id = c.id AND p.position = 'harmed') OR NOT EXISTS "
        "(SELECT 1 FROM case_persons p WHERE p.case_id = c.id "
        "AND p.position = 'perpetrator')",
    ),
    (
        "alleged perpetrators of different sex, age band or relationship",
        "SELECT case_id FROM case_persons WHERE position = 'perpetrator' GROUP BY case_id "
        "HAVING COUNT(DISTINCT sex) > 1 OR COUNT(DISTINCT age_band) > 1 "
        "OR COUNT(DISTINCT relationship) > 1",
    ),
    (
        "a withdrawn person, a grade or facts a perpetrator did not have in 0011",
        "SELECT id FROM case_persons WHERE withdrawn_at IS NOT NULL OR grade IS NOT NULL "
        "OR (position = 'perpetrator' AND (role IS NOT NULL OR age_years IS NOT NULL "
        "OR disability <> 'unknown' OR ethnic_minority <> 'unknown'))",
    ),
    (
        "a person whose sealed fields were resealed since 0012 (or a second named perpetrator)",
        "SELECT id FROM case_persons WHERE legacy_field IS NULL AND (name IS NOT NULL "
        "OR contact IS NOT NULL OR guardian_name IS NOT NULL "
        "OR guardian_contact IS NOT NULL)",
    ),
)


def downgrade() -> None:
    from caseapp.migrate import MigrationRefused

    conn = op.get_bind()
    for reason, query in _REFUSALS:
        found = conn.execute(sa.text(query)).first()
        if found is not None:
            raise MigrationRefused(
                f"downgrade below 0012 refused: some cases have {reason}; nothing was changed"
            )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.alter_column(
            "harmed_sex_group",
            new_column_name="harmed_sex",
            existing_type=sa.String(length=15),
            existing_nullable=False,
        )
        for name, kind, _null in _OLD_CASE_COLUMNS:
            batch_op.add_column(sa.Column(name, kind, nullable=True))

    cases = sa.table("cases", *(sa.column(n) for n, _k, _x in _OLD_CASE_COLUMNS), sa.column("id"))
    harmed = _persons.alias("h")
    perpetrators = _persons.alias("p")
    count = (
        sa.select(sa.func.count())
        .where(perpetrators.c.case_id == cases.c.id, perpetrators.c.position == "perpetrator")
        .scalar_subquery()
    )

    def of(table, position, column, ordinal=1):
        return (
            sa.select(getattr(table.c, column))
            .where(
                table.c.case_id == cases.c.id,
                table.c.position == position,
                table.c.ordinal == ordinal,
            )
            .scalar_subquery()
        )

    values = {
        "harmed_age_band": of(harmed, "harmed", "age_band"),
        "harmed_age_years": of(harmed, "harmed", "age_years"),
        "harmed_role": of(harmed, "harmed", "role"),
        "harmed_disability": of(harmed, "harmed", "disability"),
        "harmed_ethnic_minority": of(harmed, "harmed", "ethnic_minority"),
        "perpetrator_count": count,
        "perpetrator_sex": of(perpetrators, "perpetrator", "sex"),
        "perpetrator_age_band": of(perpetrators, "perpetrator", "age_band"),
        "perpetrator_relationship": of(perpetrators, "perpetrator", "relationship"),
        "perpetrator_names": of(perpetrators, "perpetrator", "name"),
        **{old: of(harmed, "harmed", new) for new, old in HARMED_BLOBS.items()},
    }
    conn.execute(cases.update().values(**values))
    with op.batch_alter_table("cases", schema=None) as batch_op:
        for name, kind, nullable in _OLD_CASE_COLUMNS:
            if not nullable:
                batch_op.alter_column(name, existing_type=kind, nullable=False)

    for name in ("case_steps", "case_name_index", "case_consents"):
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_constraint(
                batch_op.f(f"fk_{name}_person_id_case_persons"), type_="foreignkey"
            )
            batch_op.drop_index(batch_op.f(f"ix_{name}_person_id"))
            batch_op.drop_column("person_id")
    with op.batch_alter_table("case_persons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_persons_case_id"))
    op.drop_table("case_persons")
