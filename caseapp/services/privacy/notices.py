"""The notice shown to a person (and their guardian) when a case is recorded: what the service
records about them and why, who sees it, how long it is kept and how to use their rights under
the Personal Data Protection Law (Law 91/2025/QH15), in plain words a parent understands.

The notice is versioned: a consent stores the version it was given under
(CaseConsent.notice_version), so every version ever shown stays here, by version, and a
consent can show the words its person read. A change of wording is a new version (a new
function in NOTICES and a new NOTICE_VERSION); never edit the text of a version once shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask_babel import gettext as _

from caseapp.errors import NotFound

NOTICE_VERSION = "2026-12"


@dataclass(frozen=True)
class NoticeSection:
    title: str
    paragraphs: tuple[str, ...]


def _notice_2026_12() -> list[NoticeSection]:
    law = _("the Personal Data Protection Law (Law 91/2025/QH15)")
    return [
        NoticeSection(
            _("What we write down"),
            (
                _("What happened: when and where, what kind of harm, and what the school did."),
                _(
                    "For each person (the child who was harmed, the person who may have done "
                    "it, the one who told us): an age group, boy or girl, man or woman, and their "
                    "place in the school (pupil, teacher, parent...). These are used for counting."
                ),
                _(
                    "Names, addresses, phone numbers and the story in your own words are locked "
                    "(encrypted). Only the school's focal points for this work and the officers "
                    "of the education office above the school can open them. Every time someone "
                    "opens them, the service writes down who it was, when and why."
                ),
            ),
        ),
        NoticeSection(
            _("Why we write it down"),
            (
                _("To protect and support the child, and to make sure the harm stops."),
                _("To follow up: to remember what was agreed and check that it was done."),
                _(
                    "To count cases by boy and girl, by age and by kind of harm for the yearly "
                    "reports. The reports carry numbers only, never names."
                ),
            ),
        ),
        NoticeSection(
            _("Who sees what"),
            (
                _(
                    "Teachers and other staff do not see the case unless they are the school's "
                    "focal point. Anyone who is involved in the case can be shut out of it."
                ),
                _(
                    "If the child needs help from a health centre, the police or social services, "
                    "we tell them only what they need, and only with your agreement, unless the "
                    "child is in serious danger."
                ),
            ),
        ),
        NoticeSection(
            _("How long we keep it"),
            (
                _(
                    "Only as long as it is needed. For a child, until some years after the child "
                    "turns 18. Then the names and the story are destroyed for good; only the "
                    "numbers for the reports remain."
                ),
            ),
        ),
        NoticeSection(
            _("Your rights"),
            (
                _(
                    "Under %(law)s, you and your child may: see what is written about you; ask us "
                    "to correct it; ask us to delete it; take back your agreement; say that you "
                    "do not want it used; ask us to use it less.",
                    law=law,
                ),
                _(
                    "You can take back your agreement at any time. What was already done stays "
                    "done, but from then on we stop."
                ),
                _(
                    "We may say no, or say yes only in part, when the answer would harm another "
                    "person (for example the child's safety) or while the facts are still being "
                    "checked. We always tell you why."
                ),
            ),
        ),
        NoticeSection(
            _("How to ask"),
            (
                _(
                    "Talk to, or write to, the school's focal point. You do not need a special "
                    "form. We will answer you within the time the law sets."
                ),
            ),
        ),
    ]


# Every version ever shown, by version: a consent shows the notice it was given under.
NOTICES: dict[str, Callable[[], list[NoticeSection]]] = {
    "2026-12": _notice_2026_12,
}


def notice(version: str = NOTICE_VERSION) -> list[NoticeSection]:
    """The sections of the notice of ``version`` (the current one by default); NotFound for a
    version never shown."""
    text = NOTICES.get(version)
    if text is None:
        raise NotFound()
    return text()


def known_version(version: str | None) -> bool:
    return version is not None and version in NOTICES
