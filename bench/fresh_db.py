"""An empty PostgreSQL database per benchmark, for `make bench` with BENCH_DATABASE_URL.

    .venv/bin/python bench/fresh_db.py create URL   # prints the URL of a new, empty database
    .venv/bin/python bench/fresh_db.py drop URL     # drops that database

Every benchmark fills the database it is given and refuses one that is not empty, so each gets
its own: created on the server of URL (whose user must be allowed to create databases), named
bench_<random>, dropped when the benchmark is over.
"""

from __future__ import annotations

import secrets
import sys

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def _admin(url: str):
    return create_engine(make_url(url), isolation_level="AUTOCOMMIT")


def create(url: str) -> str:
    name = f"bench_{secrets.token_hex(4)}"
    engine = _admin(url)
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def drop(url: str) -> None:
    target = make_url(url)
    name = target.database or ""
    if not name.startswith("bench_"):
        sys.exit(f"refusing to drop {name!r}: not a database this script created")
    engine = _admin(target.set(database="postgres").render_as_string(hide_password=False))
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] not in ("create", "drop"):
        sys.exit(__doc__)
    if sys.argv[1] == "create":
        print(create(sys.argv[2]))
    else:
        drop(sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
