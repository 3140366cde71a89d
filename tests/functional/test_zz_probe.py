from pathlib import Path
from sqlalchemy import text
from sqlalchemy.engine import make_url
from tests.factories import sign_in_client
from tests.functional.case_support import CANARY, record_case


def test_probe(client, browser, db, world, database):
    print(db.execute(text("PRAGMA cache_size")).scalar(), db.execute(text("PRAGMA cache_spill")).scalar())
    pass
    sign_in_client(client, db, world["focal_a"])
    case = record_case(browser, db, world.units["SCH-A"])
    path = Path(make_url(database.url).database)
    data = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    print(len(data), case.narrative in data, case.reference.encode() in data, [p.name for p in path.parent.glob(path.name + "*")])
    db.execute(text("PRAGMA cache_size=-2000"))
