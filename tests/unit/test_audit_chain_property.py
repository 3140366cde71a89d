"""Property: any single tampering of a random event sequence is found at the right place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from caseapp.security.audit_chain import GENESIS, chain_hash, verify_events

KEY = b"k" * 32
KEYS = {"audit-1": KEY}

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
event_bodies = st.fixed_dictionaries(
    {
        "actor_id": st.one_of(st.none(), st.integers(1, 10_000)),
        "actor_name": texts,
        "action": st.sampled_from(["case.create", "auth.login", "user.grant", "note.add"]),
        "reason": texts,
        "object_ref": texts,
        "changes": texts,
    }
)


def build(bodies: list[dict]) -> list[dict]:
    events, prev = [], GENESIS
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i, body in enumerate(bodies, start=1):
        ev = {
            "seq": i,
            "at": start + timedelta(seconds=i),
            "actor_roles": "[]",
            "unit_id": None,
            "unit_path": "",
            "object_type": "",
            "object_id": "",
            "request_id": "",
            "ip": "",
            "key_id": "audit-1",
            "prev_hash": prev,
            **body,
        }
        ev["hash"] = chain_hash(KEY, prev, ev)
        prev = ev["hash"]
        events.append(ev)
    return events


def check(events):
    return verify_events(iter(events), KEYS.get)


@settings(max_examples=150, deadline=None)
@given(st.lists(event_bodies, min_size=3, max_size=25), st.data())
def test_single_tampering_is_detected_at_its_sequence_number(bodies, data):
    events = build(bodies)
    assert check(events).ok
    n = len(events)
    kind = data.draw(
        st.sampled_from(["field", "delete", "swap", "prev", "key", "rehash", "plain_insert"])
    )
    # Any event may be altered, the last one too; deleting, swapping or rehashing the last
    # one alone is what signed checkpoints are for (tested against the database).
    last = n - 1 if kind in ("field", "prev", "key", "plain_insert") else n - 2
    i = data.draw(st.integers(0, last))
    tampered = [dict(e) for e in events]
    if kind == "field":
        field = data.draw(
            st.sampled_from(["actor_name", "action", "reason", "object_ref", "changes", "actor_id"])
        )
        old = tampered[i][field]
        new = data.draw(texts if field != "actor_id" else st.integers(1, 10_000))
        if new == old:
            return
        tampered[i][field] = new
        expected = i + 1
    elif kind == "delete":
        del tampered[i]
        expected = i + 1
    elif kind == "swap":
        tampered[i], tampered[i + 1] = tampered[i + 1], tampered[i]
        expected = i + 1
    elif kind == "prev":
        tampered[i]["prev_hash"] = "e" * 64
        expected = i + 1
    elif kind == "key":
        tampered[i]["key_id"] = "audit-unknown"
        expected = i + 1
    elif kind == "plain_insert":  # a row added after event i, chained with plain SHA-256
        import hashlib
        import json

        forged = dict(tampered[i], reason="inserted by hand", prev_hash=tampered[i]["hash"])
        body = json.dumps({k: str(v) for k, v in forged.items()}, sort_keys=True).encode()
        forged["hash"] = hashlib.sha256(forged["prev_hash"].encode() + b"|" + body).hexdigest()
        tampered.insert(i + 1, forged)
        for later in tampered[i + 1 :]:
            later["seq"] = later["seq"] + 1 if later is not forged else tampered[i]["seq"] + 1
        expected = i + 2
    else:  # content changed and its own hash recomputed: the next link breaks
        tampered[i]["reason"] = tampered[i]["reason"] + "!"
        tampered[i]["hash"] = chain_hash(KEY, tampered[i]["prev_hash"], tampered[i])
        expected = i + 2
    report = check(tampered)
    assert not report.ok
    assert report.bad_seq == expected, (kind, report.problem)
