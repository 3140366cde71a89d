"""The scale-out part of bench/production_drill.py alone, for `make bench`.

    .venv/bin/python bench/scale_out.py --database-url URL [--seconds 15] [--clients 8]

Intake through gunicorn with 1, 2 and 4 sync workers (target: 2 workers >= 1.6x one), zero
errors, cases created == successful POSTs, `audit verify` intact after, and the audit chain
lock's share of the time: bench/production_drill.py --scale-only. PostgreSQL only (any
database on the server: the drill creates and drops its own); without --database-url it says
so and measures nothing (several SQLite writers are not a deployment).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    if not any(a == "--database-url" or a.startswith("--database-url=") for a in sys.argv[1:]):
        print("scale-out: skipped, PostgreSQL only (give --database-url)")
        return 0
    from bench.production_drill import main as drill

    sys.argv[1:1] = ["--scale-only"]
    return drill()


if __name__ == "__main__":
    sys.exit(main())
