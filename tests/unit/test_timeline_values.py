"""The case timeline shows recorded values as people read them."""

from caseapp.readable import readable as _readable


def test_codes_read_as_names_and_dates_as_dd_mm_yyyy():
    names = {"closed": "Đã kết thúc"}
    assert _readable(names, "closed") == "Đã kết thúc"
    assert _readable(names, "2026-11-29") == "29/11/2026"
    assert _readable(names, "2026-13-40") == "2026-13-40"  # not a date: as recorded
    assert _readable(names, "SCH-A-2026") == "SCH-A-2026"
    assert _readable(names, 3) == 3 and _readable(names, None) == "—"
