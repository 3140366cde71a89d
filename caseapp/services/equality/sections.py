"""The sections of a unit's gender-equality work report, in the order of the document, each
with the hint shown under its heading while it is written."""

from __future__ import annotations

from flask_babel import gettext as _

SECTIONS = (
    "general",  # I. general assessment
    "communication",  # II.1 communication and awareness
    "planning",  # II.2 gender equality in the unit's plans and targets
    "training",  # II.3 training of staff
    "prevention",  # II.4 preventing and handling violence and abuse, support
    "statistics",  # II.5 sex-disaggregated statistics
    "action_months",  # II.6 the two action months
    "difficulties",  # III. difficulties
    "proposals",  # IV. proposals
)
# The sections that report on each task of the letter (part II of the document).
TASKS = SECTIONS[1:7]


def section_names() -> dict[str, str]:
    return {
        "general": _("General assessment"),
        "communication": _("Communication and awareness-raising"),
        "planning": _("Gender equality in the unit's plans and targets"),
        "training": _("Training and capacity building"),
        "prevention": _("Preventing and handling violence and abuse; support for those harmed"),
        "statistics": _("Statistics disaggregated by sex"),
        "action_months": _("The action months"),
        "difficulties": _("Difficulties and obstacles"),
        "proposals": _("Proposals and recommendations"),
    }


def section_hints() -> dict[str, str]:
    return {
        "general": _(
            "How the unit carried out the gender-equality work in the period, in a few "
            "sentences: what went well, what did not."
        ),
        "communication": _(
            "What was communicated, to whom and how (assemblies, class hours, leaflets, "
            "parents' meetings); how many people were reached, by sex."
        ),
        "planning": _(
            "How gender equality was built into the unit's plans; the targets set and how far "
            "each was reached (the table of targets is beside)."
        ),
        "training": _(
            "Training and professional development on gender equality and on preventing "
            "violence: sessions held, staff trained by sex."
        ),
        "prevention": _(
            "How cases were verified, handled and followed up, and how those harmed were "
            "protected and supported. Give numbers only: never a name, a class or a detail "
            "that could identify anyone."
        ),
        "statistics": _(
            "What the unit's figures by sex show (staff, women in leadership, pupils, "
            "dropouts) and how they changed since the last period."
        ),
        "action_months": _(
            "The activities of the June action month and of the 15/11 - 15/12 action month, "
            "and their results."
        ),
        "difficulties": _("What made the work harder: resources, time, coordination."),
        "proposals": _("What the unit asks of the units above or proposes to change."),
    }
