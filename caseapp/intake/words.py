"""The words of the public pages' choices, short enough for a 13-year-old (Vietnamese in the
catalogue). Keys come from models.selfreports so the page and the database cannot disagree."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import pgettext


def who_hurt() -> dict[str, str]:
    return {"me": _("Me"), "someone_else": _("Someone else")}


def what_happened() -> dict[str, str]:
    return {
        "hit": _("Someone hit, kicked or pushed"),
        "words": _("Mean words, threats or insults"),
        "left_out": _("Left out or ignored on purpose"),
        "touched": _("Touched in a way that felt wrong"),
        "forced": _("Forced to do something sexual"),
        "online": _("Something online or on a phone"),
        "neglect": _("Not given food, care or help"),
        "money": _("Money or things taken"),
    }


def when() -> dict[str, str]:
    return {
        "today": _("Today"),
        "this_week": _("This week"),
        "this_month": _("This month"),
        "earlier": _("Before that"),
        "not_sure": _("Not sure"),
    }


def where() -> dict[str, str]:
    return {
        "in_school": _("At school"),
        "to_from_school": _("On the way to or from school"),
        "home": _("At home"),
        "online": _("Online"),
        "community": _("Somewhere else outside"),
        "not_sure": _("Not sure"),
    }


def who_did() -> dict[str, str]:
    return {
        "pupil": _("A pupil"),
        "teacher_staff": _("A teacher or someone who works at the school"),
        "family": _("Someone in the family"),
        "someone_else": _("Someone else"),
        "not_said": _("I'd rather not say"),
    }


def status() -> dict[str, tuple[str, str]]:
    """Public status -> (word, what it means)."""
    return {
        "received": (
            pgettext("public status", "Received"),
            _("Your report has arrived. Nobody has opened it yet."),
        ),
        "looking": (
            pgettext("public status", "Being looked at"),
            _("Someone responsible is reading your report and finding out what happened."),
        ),
        "help": (
            pgettext("public status", "Help arranged"),
            _("People are helping. Look here for messages from them."),
        ),
        "closed": (
            pgettext("public status", "Closed"),
            _("This report is finished. If you need help again, send a new report or call 111."),
        ),
    }
