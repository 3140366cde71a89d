"""`audit verify` in worker processes (issue 16): stretches of seq verified side by side on
connections of their own find what one process walking the whole chain finds, at the same seq
with the same words, the seams between stretches included; and the database's own ``at`` text
(the fast reader) is the canonical one."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select, text

from caseapp.models import AuditEvent
from caseapp.runtime import keyring
from caseapp.security.audit_chain import ROW_COLUMNS, canonical_time, chain_hash, verify_events
from caseapp.services.audit import chain_reader
from caseapp.services.audit import integrity as audit_integrity
from caseapp.services.audit.trail import _event_dict, record
from tests.unit.test_audit_chain_property import KEY, build

N = 40
BODY = {
    "actor_id": 3,
    "actor_name": "focal.a",
    "action": "case.update",
    "reason": 'đĐ "quoted" \\ \n',
    "object_ref": "SCH-A-2026-0001",
    "changes": '{"status": ["new", "verifying"]}',
}
KEYS = chain_reader.AuditKeys(audit={"audit-1": KEY}, held=frozenset({"audit-1"}), bound=None)


def _alter(events, i):
    events[i]["reason"] = "rewritten"


def _drop(events, i):
    del events[i]


def _forge_prev(events, i):
    events[i]["prev_hash"] = "f" * 64


def _foreign_key(events, i):
    events[i]["key_id"] = "audit-other"


@pytest.fixture()
def chain_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'chain.sqlite3'}"
    engine = create_engine(url)
    AuditEvent.__table__.create(engine)

    def store(events):
        with engine.begin() as conn:
            conn.execute(AuditEvent.__table__.delete())
            conn.execute(AuditEvent.__table__.insert(), events)

    yield url, store
    engine.dispose()


@pytest.mark.parametrize("tamper", [None, _alter, _drop, _forge_prev, _foreign_key])
# 20: the first event of the second of two stretches (the seam); 19 the last of the first one.
@pytest.mark.parametrize("at", [0, 7, 19, 20, 27, N - 1])
def test_workers_find_what_one_walk_finds(chain_file, tamper, at):
    url, store = chain_file
    events = build([dict(BODY, reason=f"{BODY['reason']}{i}") for i in range(N)])
    if tamper is not None:
        tamper(events, at)
    store(events)
    expected = verify_events(iter(events), KEYS)
    for workers in (2, 3):
        found = audit_integrity._verify_in_workers(url, KEYS, N, 7, workers).report()
        assert (found.bad_seq, found.problem, found.kind, found.missing_key) == (
            expected.bad_seq,
            expected.problem,
            expected.kind,
            expected.missing_key,
        )
        assert (found.count, found.head_seq, found.head_hash) == (
            expected.count,
            expected.head_seq,
            expected.head_hash,
        )
    # Only a checkpoint tells the last event gone (test_audit_chain).
    assert expected.ok == (tamper is None or (tamper is _drop and at == N - 1))


def test_the_fast_reader_gives_the_canonical_time_and_the_columns(db):
    for i in range(3):
        record(db, None, "test.event", reason=f"event {i}")
    db.flush()
    typed = db.execute(select(AuditEvent.__table__).order_by(AuditEvent.seq)).mappings().all()
    rows = list(chain_reader.stream_rows(db.connection(), 0, 2**62, 2))
    assert len(rows) == len(typed)
    for row, event in zip(rows, typed, strict=True):
        expected = [canonical_time(event["at"]) if c == "at" else event[c] for c in ROW_COLUMNS]
        assert list(row) == expected


def test_an_unforeseen_time_text_is_read_again_not_reported(db):
    """The shortcut is only a shortcut: a stored ``at`` it formats differently is re-read through
    SQLAlchemy's types (here: a SQLite time without microseconds, which SQLAlchemy reads)."""
    if db.get_bind().dialect.name != "sqlite":
        pytest.skip("SQLite stores the time as text")
    seq = record(db, None, "test.event", reason="whole second").seq
    db.flush()
    db.execute(text("DROP TRIGGER audit_events_no_update"))  # rolled back with the test
    stored = db.scalar(text("SELECT at FROM audit_events WHERE seq = :s"), {"s": seq})
    db.execute(
        text("UPDATE audit_events SET at = :at WHERE seq = :s"), {"at": stored[:19], "s": seq}
    )
    db.expire_all()
    event = db.get(AuditEvent, seq)
    assert event is not None and event.at.microsecond == 0
    new_hash = chain_hash(keyring().get(event.key_id).secret, event.prev_hash, _event_dict(event))
    db.execute(text("UPDATE audit_events SET hash = :h WHERE seq = :s"), {"h": new_hash, "s": seq})
    db.expire_all()
    row = next(chain_reader.stream_rows(db.connection(), seq - 1, seq, 1))
    assert row[ROW_COLUMNS.index("at")] != canonical_time(event.at)  # the shortcut misses it
    report = audit_integrity.verify(db, keyring())
    assert report.ok, report.problem
