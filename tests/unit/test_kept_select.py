"""KeptSelect (caseapp/forms.py): the case list's selects drawn once and given again. What it
gives must be what WTForms draws, for every value and language, and nothing a request puts in
the address may be kept."""

from __future__ import annotations

from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from wtforms import Form, SelectField
from wtforms.widgets import Select

from caseapp.cases.forms import CaseFilterForm
from caseapp.forms import KeptSelect

CHOICES = [("", "All"), ("new", "New"), ("closed", "Closed <done>")]


def _form(kept: KeptSelect, value: str | None, choices=CHOICES):
    class F(Form):
        status = SelectField("Status", validate_choice=False, widget=kept)

    form = F(MultiDict({"status": value}) if value is not None else None)
    form.status.choices = list(choices)
    return form


def _drawn_plainly(value: str | None, choices=CHOICES, **kwargs) -> str:
    form = _form(KeptSelect(), value, choices)
    return str(Select()(form.status, **kwargs))


def test_a_kept_drawing_is_what_wtforms_draws_for_each_value():
    kept = KeptSelect()
    for value in (None, "", "new", "closed", "new"):
        field = _form(kept, value).status
        assert str(field()) == _drawn_plainly(value)
        assert str(field(class_="wide")) == _drawn_plainly(value, class_="wide")
    # One drawing per value (None and "" are two to WTForms) and attributes: 4 x 2.
    assert len(kept._kept) == 8
    assert 'selected value="closed"' in str(_form(kept, "closed").status())
    assert "Closed &lt;done&gt;" in str(_form(kept, "closed").status())


def test_other_choices_make_another_drawing():
    """Choices are given already translated: another language is another key."""
    kept = KeptSelect()
    english = str(_form(kept, "new").status())
    vietnamese = [("", "Tất cả"), ("new", "Mới"), ("closed", "Đã đóng")]
    drawn = str(_form(kept, "new", vietnamese).status())
    assert "Mới" in drawn and "New" not in drawn
    assert str(_form(kept, "new").status()) == english


def test_a_value_from_the_address_outside_the_choices_is_drawn_not_kept():
    kept = KeptSelect()
    for n in range(50):
        value = f"made-up-{n}"
        assert str(_form(kept, value).status()) == _drawn_plainly(value)
    assert kept._kept == {}


def test_the_store_stays_within_its_limit():
    kept = KeptSelect(limit=3)
    many = [("", "All")] + [(f"v{i}", f"V{i}") for i in range(10)]
    for i in range(10):
        assert str(_form(kept, f"v{i}", many).status()) == _drawn_plainly(f"v{i}", many)
        assert len(kept._kept) <= 3


def test_the_case_list_selects_are_kept(app):
    with app.test_request_context("/cases/?status=new"):
        form = CaseFilterForm(MultiDict({"status": "new"}))
        form.status.choices = CHOICES
        for name in ("status", "violence", "risk", "due", "sort"):
            assert isinstance(getattr(form, name).widget, KeptSelect), name
        assert 'selected value="new"' in str(form.status())


def test_inputs_drawn_differently_never_share_a_drawing():
    """A Markup label is drawn as it is, a plain one escaped; True and "True" as attributes
    are drawn differently too: each is its own key."""
    kept = KeptSelect()
    marked = [("a", Markup("<b>A</b>"))]
    plain = [("a", "<b>A</b>")]
    assert "<b>A</b>" in str(_form(kept, "a", marked).status())
    assert str(_form(kept, "a", plain).status()) == _drawn_plainly("a", plain)
    assert "&lt;b&gt;A&lt;/b&gt;" in str(_form(kept, "a", plain).status())
    for value in (True, "True", "true"):
        assert str(_form(kept, "a", plain).status(disabled=value)) == _drawn_plainly(
            "a", plain, disabled=value
        )
