"""The staff pages' labels are made once per language and shared by every page: read-only at
any depth, so that nothing a page (or a template) does can change what the next page shows."""

from __future__ import annotations

import pytest
from flask_babel import force_locale

from caseapp import create_app
from caseapp.labels import (
    case_choice_names,
    labels,
    role_names,
    status_names,
    step_choice_names,
)
from config import load_settings


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("CASEAPP_INSTANCE", str(tmp_path))
    return create_app(load_settings("testing", environ={"CASEAPP_INSTANCE": str(tmp_path)}))


def test_one_object_per_language_with_the_builders_names(app):
    with app.test_request_context():
        with force_locale("vi"):
            vi = labels()
            assert labels() is vi
            assert vi["ROLE_NAMES"] == role_names()
            assert vi["STATUS_NAMES"] == status_names()
            assert vi["CHOICE_NAMES"]["harmed_sex"] == case_choice_names()["harmed_sex"]
            assert vi["STEP_NAMES"]["finding"] == step_choice_names()["finding"]
            assert vi["ROLE_NAMES"]["focal_point"] == "Cán bộ đầu mối"
        with force_locale("en"):
            en = labels()
            assert en is not vi
            assert en["ROLE_NAMES"]["focal_point"] == "Focal point"
        with force_locale("vi"):
            assert labels() is vi


def test_no_caller_can_change_them(app):
    with app.test_request_context(), force_locale("vi"):
        shared = labels()
        with pytest.raises(TypeError):
            shared["ROLE_NAMES"] = {}  # type: ignore[index]
        with pytest.raises(TypeError):
            shared["ROLE_NAMES"]["focal_point"] = "x"  # type: ignore[index]
        with pytest.raises(TypeError):
            shared["CHOICE_NAMES"]["harmed_sex"]["female"] = "x"  # type: ignore[index]
        with pytest.raises(AttributeError):
            shared["STEP_NAMES"]["finding"].update(x="y")  # type: ignore[attr-defined]
        assert labels()["ROLE_NAMES"]["focal_point"] == "Cán bộ đầu mối"


def test_a_template_reads_them_as_before(app):
    """What the templates do with them (an item, an attribute, .get, .items(), dictsort)."""
    source = (
        "{{ STEP_NAMES.status.declined }}|{{ CHOICE_NAMES.risk_level['high'] }}|"
        "{{ ROLE_NAMES.get('auditor', '?') }}|{{ ROLE_NAMES.get('nobody', '?') }}|"
        "{% for k, v in STEP_NAMES.finding.items() %}{{ k }},{% endfor %}|"
        "{{ STATUS_NAMES|dictsort|first|first }}"
    )
    with app.test_request_context("/"), force_locale("en"):
        from flask import render_template_string

        out = render_template_string(source)
    assert out == ("Declined|High|Auditor|?|substantiated,not_substantiated,inconclusive,|closed")
