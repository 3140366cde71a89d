"""Benchmark `audit verify`: events per second next to a bare HMAC loop over the same bytes.

    .venv/bin/python bench/audit_verify.py --events 200000 [--database-url URL]

Fills a fresh database (SQLite file in a temp dir unless --database-url names an empty one)
with N chained events, then times the streamed verification and a bare loop that hashes the
same canonical bytes, and prints peak Python memory of the verification (it must not grow
with N).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from caseapp import create_app, migrate  # noqa: E402
from caseapp.db import get_session  # noqa: E402
from caseapp.models import AuditEvent  # noqa: E402
from caseapp.runtime import keyring  # noqa: E402
from caseapp.security.audit_chain import GENESIS, canonical, chain_hash  # noqa: E402
from caseapp.services.audit import integrity as audit_integrity  # noqa: E402
from config import load_settings  # noqa: E402


def fill(session, n: int, key_id: str, key: bytes) -> None:
    table = AuditEvent.__table__
    prev = GENESIS
    start = datetime(2026, 1, 1, tzinfo=UTC)
    batch = []
    for seq in range(1, n + 1):
        ev = {
            "seq": seq,
            "at": start + timedelta(seconds=seq),
            "actor_id": seq % 50,
            "actor_name": f"user{seq % 50}",
            "actor_roles": '["focal_point@SCH-A"]',
            "unit_id": 4,
            "unit_path": "/1/2/4/",
            "action": "case.update",
            "object_type": "cases",
            "object_id": str(seq % 1000),
            "object_ref": f"SCH-A-2026-{seq % 1000:04d}",
            "changes": '{"status": ["new", "verifying"]}',
            "reason": "",
            "request_id": f"{seq:016x}",
            "ip": "10.0.0.1",
            "key_id": key_id,
            "prev_hash": prev,
        }
        ev["hash"] = chain_hash(key, prev, ev)
        prev = ev["hash"]
        batch.append(ev)
        if len(batch) == 5000:
            session.execute(table.insert(), batch)
            batch = []
    if batch:
        session.execute(table.insert(), batch)
    session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
    os.environ["CASEAPP_INSTANCE"] = str(tmp)
    settings = load_settings(
        "testing", environ=dict(os.environ, CASEAPP_TEST_DB=url, CASEAPP_INSTANCE=str(tmp))
    )
    app = create_app(settings)
    migrate.upgrade(app.extensions["caseapp.engine"])
    with app.app_context():
        session = get_session()
        key = keyring().active("audit")
        t0 = time.perf_counter()
        fill(session, args.events, key.id, key.secret)
        fill_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        report = audit_integrity.verify(session, keyring())
        verify_s = time.perf_counter() - t0
        assert report.ok and report.count == args.events, report.problem
        # A second, traced run for memory only: tracemalloc slows Python down several times.
        tracemalloc.start()
        audit_integrity.verify(session, keyring())
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        rows = [
            dict(r)
            for r in session.execute(
                AuditEvent.__table__.select().order_by(AuditEvent.seq)
            ).mappings()
        ]
        payloads = [r["prev_hash"].encode() + b"|" + canonical(r) for r in rows]
        t0 = time.perf_counter()
        for p in payloads:
            hmac.new(key.secret, p, hashlib.sha256).hexdigest()
        bare_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for r in rows:
            chain_hash(key.secret, r["prev_hash"], r)
        canon_s = time.perf_counter() - t0

    n = args.events
    print(f"database           {app.extensions['caseapp.engine'].dialect.name}")
    print(f"events             {n}")
    print(f"fill               {fill_s:8.2f} s")
    print(
        f"audit verify       {verify_s:8.2f} s  {n / verify_s:12,.0f} events/s  "
        f"peak Python memory {peak / 1e6:.1f} MB"
    )
    print(f"canonical + HMAC   {canon_s:8.2f} s  {n / canon_s:12,.0f} events/s (in memory)")
    print(f"bare HMAC loop     {bare_s:8.2f} s  {n / bare_s:12,.0f} events/s (bytes ready)")
    ratio = bare_s / verify_s
    verdict = "PASS" if ratio >= 0.5 else "FAIL"
    print(f"verify vs bare HMAC: {ratio:.2f}x (target >= 0.5x): {verdict}")


if __name__ == "__main__":
    main()
