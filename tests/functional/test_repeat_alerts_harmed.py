"""Repeat alerts for the person harmed: the same name written differently (case, diacritics,
spaces, Unicode form) matches; each person counts only the cases they may see; and the counts
come from the blind index alone, with nothing decrypted."""

from __future__ import annotations

import re
import unicodedata

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from caseapp.models import Case, Unit, User
from caseapp.security import crypto, envelope
from caseapp.services.cases import content as case_content
from caseapp.services.cases import intake as cases
from caseapp.services.cases import records as case_records
from tests.factories import Visitor
from tests.functional.case_attack_support import case_details

NAME = "Đặng Thị Mai"
SPELLINGS = {
    "ascii lower case": "dang thi mai",
    "upper case": "ĐẶNG THỊ MAI",
    "extra spaces": "  Đặng   Thị  Mai ",
    "decomposed (NFD)": unicodedata.normalize("NFD", NAME),
    "mixed case": "đặng THỊ mai",
}
HARMED_RE = re.compile(
    r"The same name of a person harmed \(accents ignored\) appears in (\d+) "
    r"other cases you can see\."
)
PERP_RE = re.compile(
    r"The same name of an alleged perpetrator \(accents ignored\) appears in "
    r"(\d+) other cases you can see\."
)


def _shown(actor: Visitor, case: Case) -> dict[str, int]:
    """The repeat alerts on the case page, as the person reads them (in English)."""
    r = actor.get(f"/cases/{case.public_id}")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    found = {}
    for role, pattern in (("harmed", HARMED_RE), ("perpetrator", PERP_RE)):
        numbers = pattern.findall(page)
        assert len(numbers) <= 1
        found[role] = int(numbers[0]) if numbers else 0
    return found


def _intake(actor: Visitor, db, world, school: str, harmed: str, perpetrator: str) -> Case:
    return actor.intake(db, world.units[school], harmed_name=harmed, perpetrator_names=perpetrator)


@pytest.mark.parametrize("spelling", list(SPELLINGS.values()), ids=list(SPELLINGS))
def test_the_person_harmed_matches_across_spellings(app, db, world, spelling):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    one = _intake(focal, db, world, "SCH-A", NAME, "Lý Văn Một")
    two = _intake(focal, db, world, "SCH-A", spelling, "Lý Văn Hai")
    # The same name as an alleged perpetrator is not the person harmed.
    as_perpetrator = _intake(focal, db, world, "SCH-A", "Hồ Thị Ba", NAME)
    # One letter apart (Mây, not Mai) is another person.
    other = _intake(focal, db, world, "SCH-A", "Đặng Thị Mây", "Lý Văn Bốn")
    assert _shown(focal, one) == {"harmed": 1, "perpetrator": 0}
    assert _shown(focal, two) == {"harmed": 1, "perpetrator": 0}
    assert _shown(focal, as_perpetrator) == {"harmed": 0, "perpetrator": 0}
    assert _shown(focal, other) == {"harmed": 0, "perpetrator": 0}


def test_matches_are_counted_within_what_each_person_may_see(app, db, world):
    fa, fb, fc = (Visitor(app, db, world[n], lang="en") for n in ("focal_a", "focal_b", "focal_c"))
    a1 = _intake(fa, db, world, "SCH-A", NAME, "Lý Văn Một")
    a2 = _intake(fa, db, world, "SCH-A", "dang thi mai", "Lý Văn Hai")
    b1 = _intake(fb, db, world, "SCH-B", "ĐẶNG  THỊ MAI", "Lý Văn Ba")
    c1 = _intake(fc, db, world, "SCH-C", NAME, "Lý Văn Bốn")
    officer_d1, officer_d2, officer_p = (
        Visitor(app, db, world[n], lang="en") for n in ("officer_d1", "officer_d2", "officer_p")
    )

    assert _shown(fa, a1)["harmed"] == 1  # a2 only: SCH-B and SCH-C are not the school's
    assert _shown(fb, b1)["harmed"] == 0  # SCH-A's cases are not SCH-B's to see
    assert _shown(fc, c1)["harmed"] == 0
    assert _shown(officer_d1, a1)["harmed"] == 2  # a2 and b1: both schools of D1
    assert _shown(officer_d1, b1)["harmed"] == 2  # a1 and a2
    assert _shown(officer_d2, c1)["harmed"] == 0  # D2 holds only SCH-C
    assert _shown(officer_p, a1)["harmed"] == 3  # the province sees c1 too

    # A case that excludes the officer is not counted for them either.
    case_records.exclude(
        db, db.get(User, world["focal_a"].id), a2, "officer.d1", "Người thân của người bị hại"
    )
    db.commit()
    assert _shown(officer_d1, a1)["harmed"] == 1
    assert _shown(fa, a1)["harmed"] == 1


class Decrypted(AssertionError):
    pass


def _refuse(*_args, **_kwargs):
    raise Decrypted("something was decrypted while counting repeat alerts")


@pytest.fixture()
def no_decryption(monkeypatch):
    """Every way to decrypt case content or a data key raises."""
    for module, names in (
        (crypto, ("unseal", "unseal_with_keyring")),
        (envelope, ("unseal", "unseal_with_keyring", "unwrap_data_key", "open_text", "open_file")),
        (case_content, ("data_key",)),
    ):
        for name in names:
            monkeypatch.setattr(module, name, _refuse)
    monkeypatch.setattr(AESGCM, "decrypt", _refuse)


def test_counts_are_computed_without_decrypting_anything(app, db, world, request):
    focal_a, focal_b = (db.get(User, world[n].id) for n in ("focal_a", "focal_b"))

    def new(actor, school, harmed):
        return cases.create_case(
            db,
            actor,
            db.get(Unit, world.units[school]),
            case_details(),
            cases.CaseContent(harmed_name=harmed, narrative="Nội dung bảo mật"),
        )

    a1 = new(focal_a, "SCH-A", NAME)
    new(focal_a, "SCH-A", "  dang THI mai ")
    new(focal_b, "SCH-B", unicodedata.normalize("NFD", NAME.upper()))
    db.commit()
    page = Visitor(app, db, world["officer_d1"], lang="en")
    assert page.token()  # fetched before decryption is switched off
    db.commit()  # keeps the page's sign-in session through the rollback below

    request.getfixturevalue("no_decryption")
    with pytest.raises(Decrypted):  # the switch works: reading the content now fails
        case_content.open_content(db, focal_a, a1)
    db.rollback()

    officer_d1, officer_p = (db.get(User, world[n].id) for n in ("officer_d1", "officer_p"))
    assert case_records.repeat_counts(db, focal_a, a1) == {"harmed": 1, "perpetrator": 0}
    assert case_records.repeat_counts(db, officer_d1, a1) == {"harmed": 2, "perpetrator": 0}
    assert case_records.repeat_counts(db, officer_p, a1) == {"harmed": 2, "perpetrator": 0}
    # The case page, which shows them, renders without decrypting too.
    assert _shown(page, a1) == {"harmed": 2, "perpetrator": 0}


def test_the_alert_leads_to_the_cases_it_counts(app, db, world):
    """ "See them" lists exactly the other cases the alert counted, within the reader's scope;
    a case the reader may not see cannot be used as the starting point."""
    fa, fb = (
        Visitor(app, db, world["focal_a"], lang="en"),
        Visitor(app, db, world["focal_b"], lang="en"),
    )
    a1 = _intake(fa, db, world, "SCH-A", NAME, "Lý Văn Một")
    a2 = _intake(fa, db, world, "SCH-A", "dang thi mai", "Lý Văn Hai")
    a3 = _intake(fa, db, world, "SCH-A", "Hồ Thị Ba", "Lý Văn Một")
    b1 = _intake(fb, db, world, "SCH-B", NAME, "Lý Văn Ba")
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    page = officer.get(f"/cases/{a1.public_id}").get_data(as_text=True)
    link = f"/cases/?related={a1.public_id}&amp;role=harmed"
    assert link in page

    def listed(actor, role):
        html = actor.get("/cases/", query_string={"related": a1.public_id, "role": role})
        return set(re.findall(r">([A-Z0-9-]+-\d{4}-\d{4})</a>", html.get_data(as_text=True)))

    assert listed(officer, "harmed") == {a2.reference, b1.reference}
    assert listed(officer, "perpetrator") == {a3.reference}
    assert listed(fa, "harmed") == {a2.reference}  # the school's own cases only
    # focal_b may not see a1: the filter is refused, not applied.
    assert b1.reference in listed(fb, "harmed")
    refused = fb.get("/cases/", query_string={"related": a1.public_id, "role": "harmed"})
    assert "Some filters are not valid; they were ignored." in refused.get_data(as_text=True)


def test_a_common_name_is_counted_up_to_a_ceiling(app, db, world, monkeypatch):
    """A common name can be shared by thousands of cases of an archive: the alerts count them
    up to REPEATS_SHOWN and say "more than" beyond (here with a ceiling of 2), each person
    counting only what they may see, in one statement for the roles and one for the people."""
    monkeypatch.setattr(case_records, "REPEATS_SHOWN", 2)
    focal_a = Visitor(app, db, world["focal_a"], lang="en")
    focal_c = Visitor(app, db, world["focal_c"], lang="en")
    first = _intake(focal_a, db, world, "SCH-A", NAME, "Lý Văn Một")
    for i in range(3):
        _intake(focal_a, db, world, "SCH-A", NAME, f"Lý Văn {i}")
    _intake(focal_c, db, world, "SCH-C", NAME, "Lý Văn C")  # not SCH-A's to see
    db.expire_all()
    case = db.get(Case, first.id)
    focal = db.get(User, world["focal_a"].id)
    assert case_records.repeat_counts(db, focal, case) == {"harmed": 3, "perpetrator": 0}
    harmed = case.harmed_people[0]
    assert case_records.repeat_counts_by_person(db, focal, case)[harmed.uid] == 3
    page = focal_a.get(f"/cases/{case.public_id}").get_data(as_text=True)
    assert (
        "The same name of a person harmed (accents ignored) appears in more than 2 other "
        "cases you can see." in page
    )
    assert "more than 2 other cases</a>" in page
    monkeypatch.setattr(case_records, "REPEATS_SHOWN", 3)  # at the ceiling: the number
    assert _shown(focal_a, case) == {"harmed": 3, "perpetrator": 0}
    officer_p = db.get(User, world["officer_p"].id)  # the province sees all five
    assert case_records.repeat_counts(db, officer_p, case)["harmed"] == 4
