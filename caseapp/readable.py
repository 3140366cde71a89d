"""Recorded changes as people read them: field names and coded values in the user's language,
dates as dd/mm/yyyy. Used by the case timeline and the auditor's event page."""

from __future__ import annotations

from datetime import date

from flask_babel import gettext as _

from caseapp.labels import case_choice_names, role_names, status_names, step_choice_names


def field_names() -> dict[str, str]:
    """Each recorded field of a case or step, by the label of its form."""
    from wtforms.fields.core import UnboundField

    from caseapp.cases.forms import CaseForm, IntakeForm

    names = {
        name: str(field.args[0])
        for form in (CaseForm, IntakeForm)  # the intake's person fields: older case edits
        for name, field in vars(form).items()
        if isinstance(field, UnboundField) and field.args
    }
    names["status"] = _("Status")
    names.update(
        {
            "done_on": _("Done on"),
            "due_on": _("Due on"),
            "next_on": _("Next follow-up on"),
            "situation": _("Situation of the person harmed"),
            "finding": _("Finding"),
            "closure_reason": _("Why the case can close"),
            "method": _("Method"),
            "service": _("Service"),
            "measure": _("Measure"),
            "subject": _("Disciplined person"),
            "second_factor": _("Second factor"),
        }
    )
    return names


def value_names() -> dict[str, dict[str, str]]:
    """The names of coded values, per field."""
    steps = step_choice_names()
    return {
        **case_choice_names(),
        "status": {**steps["status"], **status_names()},
        "situation": steps["situation"],
        "finding": steps["finding"],
        "closure_reason": steps["closure_reason"],
        "method": steps["method"],
        "service": steps["service"],
        "measure": steps["measure"],
        "subject": steps["subject"],
        "role": role_names(),
        "second_factor": {"code_already_used": _("A genuine code, already used")},
    }


def readable(names: dict, value):
    """A recorded value as people read it: a code by its name, a date as dd/mm/yyyy, nothing
    as a dash, yes/no in words."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if not isinstance(value, str):
        return value
    if value in names:
        return names[value]
    try:
        return date.fromisoformat(value).strftime("%d/%m/%Y") if len(value) == 10 else value
    except ValueError:
        return value


def change_rows(changes: dict) -> list[tuple[str, str, object, object]]:
    """(label, field code, before, after) for each recorded change; a sealed field reads
    "changed" and a single value (not a before/after pair) is given as after."""
    labels, codes = field_names(), value_names()
    rows: list[tuple[str, str, object, object]] = []
    for name, value in sorted(changes.items()):
        label = labels.get(name, name)
        if value == "changed":
            rows.append((label, name, "", _("changed")))
        elif isinstance(value, list) and len(value) == 2:
            old, new = (readable(codes.get(name, {}), v) for v in value)
            rows.append((label, name, old, new))
        else:
            rows.append(
                (
                    label,
                    name,
                    "",
                    readable(codes.get(name, {}), value)
                    if not isinstance(value, (dict, list))
                    else value,
                )
            )
    return rows
