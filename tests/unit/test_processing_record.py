"""The processing record must name every column of every model: a new column without a
category and a purpose fails here, and so does a catalogued column that no longer exists."""

from __future__ import annotations

from collections import Counter

import caseapp.models  # noqa: F401  (maps every model)
from caseapp.db import Base
from caseapp.security.authz import ALL_PERMISSIONS
from caseapp.services.privacy import catalog


def model_columns() -> set[str]:
    return {
        f"{mapper.local_table.name}.{column.name}"
        for mapper in Base.registry.mappers
        for column in mapper.local_table.columns
    }


def test_every_model_column_has_a_category_and_a_purpose():
    missing = sorted(model_columns() - set(catalog.columns()))
    assert not missing, (
        "These columns have no category in the processing record: "
        + ", ".join(missing)
        + ". Add each to a Group (category, purpose) of its table in CATALOG of "
        "caseapp/services/privacy/catalog.py (a new table needs its own TableEntry), "
        "with its purpose in plain words and its Vietnamese translation."
    )


def test_the_catalog_names_no_column_that_does_not_exist():
    stale = sorted(set(catalog.columns()) - model_columns())
    assert not stale, (
        "The processing record names columns no model has: "
        + ", ".join(stale)
        + ". Remove them from CATALOG in caseapp/services/privacy/catalog.py "
        "(or fix their spelling)."
    )


def test_no_column_is_catalogued_twice():
    repeats = sorted(k for k, n in Counter(catalog.catalogued_keys()).items() if n > 1)
    assert not repeats, f"Catalogued twice in caseapp/services/privacy/catalog.py: {repeats}"


def test_categories_and_permissions_are_known():
    for table, entry in catalog.CATALOG.items():
        assert entry.permission in ALL_PERMISSIONS, (table, entry.permission)
        for group in entry.groups:
            assert group.category in catalog.CATEGORIES, (table, group.category)
            assert group.columns.split(), (table, group)


def test_sealed_blob_columns_are_marked_sealed():
    """Every binary column of a case or of a secret is sealed; only activity materials
    (public programmes and photos of activities) are kept as they are."""
    from sqlalchemy import LargeBinary

    entries = catalog.columns()
    for mapper in Base.registry.mappers:
        for column in mapper.local_table.columns:
            key = f"{mapper.local_table.name}.{column.name}"
            if not isinstance(column.type, LargeBinary) or key in {
                "activity_materials.content",
                "cases.wrapped_key",
            }:
                continue
            assert entries[key].sealed, f"{key} is a sealed blob: mark its Group sealed=True"


def test_the_test_notices_a_new_column(monkeypatch):
    """The check above really fails for a column added without a category."""
    from sqlalchemy import Column, String

    table = Base.metadata.tables["units"]
    extra = Column("new_unexplained_field", String(10))
    table.append_column(extra)
    try:
        missing = model_columns() - set(catalog.columns())
        assert missing == {"units.new_unexplained_field"}
    finally:
        table._columns.remove(extra)
    assert "units.new_unexplained_field" not in model_columns()
