"""verify_rows, the loop `audit verify` spends its time in (issue 16): the first row is taken
before the loop, so an empty stretch, a stretch of one row and a stretch starting anywhere in
the trail (expected_seq and prev None, as a worker process walks it) are pinned here; the rows
are consumed once, as a stream."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from caseapp.security.audit_chain import (
    GENESIS,
    ROW_HASH,
    ROW_PREV,
    ROW_SEQ,
    event_row,
    verify_rows,
)
from tests.unit.test_audit_chain_property import KEYS, build, event_bodies

BODY = {
    "actor_id": 1,
    "actor_name": "a",
    "action": "case.create",
    "reason": "",
    "object_ref": "",
    "changes": "{}",
}


def _rows(events):
    return [event_row(ev) for ev in events]


def test_an_empty_stretch_finds_nothing():
    for expected_seq, prev in ((1, GENESIS), (None, None)):
        found = verify_rows(iter(()), KEYS.get, expected_seq=expected_seq, prev=prev)
        assert (found.first_seq, found.count, found.head_seq, found.bad_seq) == (None, 0, 0, None)
        assert found.head_hash == GENESIS


def test_a_missing_first_event_is_reported_at_its_seq():
    rows = _rows(build([BODY] * 3))
    found = verify_rows(iter(rows[1:]), KEYS.get)
    assert (found.bad_seq, found.problem, found.count) == (1, "missing event (found 2 next)", 0)
    assert (found.first_seq, found.first_prev) == (2, rows[1][ROW_PREV])


@settings(max_examples=60, deadline=None)
@given(st.lists(event_bodies, min_size=1, max_size=12), st.data())
def test_a_stretch_walked_from_its_first_row_as_stored(bodies, data):
    rows = _rows(build(bodies))
    cut = data.draw(st.integers(0, len(rows) - 1))
    found = verify_rows(iter(rows[cut:]), KEYS.get, expected_seq=None, prev=None)
    assert found.bad_seq is None, found.problem
    assert (found.first_seq, found.first_prev) == (rows[cut][ROW_SEQ], rows[cut][ROW_PREV])
    assert (found.count, found.head_seq, found.head_hash) == (
        len(rows) - cut,
        rows[-1][ROW_SEQ],
        rows[-1][ROW_HASH],
    )
    # The whole trail from a stream and from a list alike.
    whole = verify_rows(iter(rows), KEYS.get)
    assert whole == verify_rows(rows, KEYS.get)
    assert (whole.count, whole.head_hash, whole.bad_seq) == (len(rows), rows[-1][ROW_HASH], None)
