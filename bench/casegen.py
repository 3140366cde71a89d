"""Synthetic cases for the benchmarks (bench/monitoring.py, bench/reports.py): metadata with
realistic-looking distributions over two years, the steps and status transitions that the
workflow would have left for each status, written by bulk inserts (SQLAlchemy Core) or by
PostgreSQL COPY. The sealed content and data keys are shared dummy bytes: only metadata is read.

Not statistics of any real place. Everything is drawn from one seeded random.Random, so a run
is repeatable for a given seed, N and day.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert, text

from caseapp.clock import add_working_days
from caseapp.models import (
    Case,
    CaseCounter,
    CasePerson,
    CaseStep,
    CaseTransition,
    CaseViolenceType,
)
from caseapp.models import cases as domain
from caseapp.services.cases import tallies
from caseapp.services.cases.deadlines import StepFacts, overdue_after

DAYS = 730  # received dates over two years, more recent ones more frequent
VIOLENCE_WEIGHTS = {
    "psychological": 30,
    "physical": 28,
    "cyber": 15,
    "sexual_harassment": 10,
    "neglect": 6,
    "sexual_assault": 4,
    "economic": 3,
    "rape": 2,
    "forced_marriage": 2,
}
RISK_WEIGHTS = {"low": 40, "medium": 35, "high": 20, "immediate": 5}
# Status by age of the case: recent ones are mostly open, old ones mostly closed.
STATUS_BY_AGE = (
    (
        30,
        {
            "new": 25,
            "verifying": 35,
            "supporting": 20,
            "monitoring": 12,
            "closure_requested": 5,
            "closed": 3,
        },
    ),
    (
        120,
        {
            "new": 2,
            "verifying": 10,
            "supporting": 18,
            "monitoring": 30,
            "closure_requested": 10,
            "closed": 30,
        },
    ),
    (
        DAYS + 1,
        {
            "closed": 88,
            "monitoring": 6,
            "closure_requested": 2,
            "supporting": 2,
            "verifying": 1,
            "reopened": 1,
        },
    ),
)
AGE_WEIGHTS = {"0-5": 1, "6-10": 22, "11-14": 45, "15-17": 27, "18-24": 2, "25-59": 3}
RELATIONSHIP_WEIGHTS = {
    "pupil_peer": 60,
    "teacher": 8,
    "school_staff": 4,
    "family_member": 15,
    "intimate_partner": 4,
    "stranger": 6,
    "other": 3,
}
# How many persons harmed and alleged perpetrators a case has (group fights: a few).
HARMED_COUNT_WEIGHTS = {1: 88, 2: 8, 3: 4}
PERPETRATOR_COUNT_WEIGHTS = {1: 70, 2: 18, 3: 8, 5: 4}
FINDING_WEIGHTS = {"substantiated": 75, "inconclusive": 15, "not_substantiated": 10}
SERVICES = (
    "counselling",
    "counselling",
    "safety_plan",
    "medical_care",
    "academic_support",
    "legal_aid",
    "other",
)
PATH = ("new", "verifying", "supporting", "monitoring", "closure_requested", "closed")
CHILD_BANDS = ("0-5", "6-10", "11-14", "15-17")

_rng = random.Random(7)
DUMMY_KEY = bytes(_rng.randrange(256) for _ in range(77))
DUMMY_NAME = bytes(_rng.randrange(256) for _ in range(57))
DUMMY_CONTACT = bytes(_rng.randrange(256) for _ in range(90))
DUMMY_NARRATIVE = bytes(_rng.randrange(256) for _ in range(1029))


@dataclass
class Batch:
    cases: list[dict] = field(default_factory=list)
    people: list[dict] = field(default_factory=list)
    types: list[dict] = field(default_factory=list)
    steps: list[dict] = field(default_factory=list)
    transitions: list[dict] = field(default_factory=list)


@dataclass
class Totals:
    cases: int = 0
    people: int = 0
    types: int = 0
    steps: int = 0
    transitions: int = 0
    counters: dict = field(default_factory=dict)

    def add(self, batch: Batch) -> None:
        self.cases += len(batch.cases)
        self.people += len(batch.people)
        self.types += len(batch.types)
        self.steps += len(batch.steps)
        self.transitions += len(batch.transitions)


class _Picker:
    """Weighted choice from a cumulative table (faster than random.choices one at a time)."""

    def __init__(self, weights: dict[str, int]):
        from itertools import accumulate

        self.keys = list(weights)
        self.cum = list(accumulate(weights.values()))
        self.total = self.cum[-1]

    def __call__(self, rng: random.Random) -> str:
        from bisect import bisect_right

        return self.keys[bisect_right(self.cum, rng.random() * self.total)]


def _uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def person_row(
    person_id: int | None,
    uid: str,
    case_id: int,
    position: str,
    ordinal: int,
    created: datetime,
    facts: dict,
) -> dict:
    """A case_persons row with every column (COPY writes them all); ``facts`` sets sex,
    age_band, role, relationship, child and the like."""
    row = {
        "id": person_id,
        "uid": uid,
        "case_id": case_id,
        "position": position,
        "ordinal": ordinal,
        "sex": "not_recorded",
        "age_band": "11-14",
        "age_years": None,
        "role": None,
        "grade": None,
        "disability": "unknown",
        "ethnic_minority": "unknown",
        "relationship": None,
        "child": False,
        "name": DUMMY_NAME,
        "contact": None,
        "guardian_name": None,
        "guardian_contact": None,
        "legacy_field": None,
        "created_at": created,
        "withdrawn_at": None,
        "version": 1,
    }
    row.update(facts)
    if person_id is None:  # the database numbers it
        del row["id"]
    return row


def sex_group(sexes: list[str]) -> str:
    """The case's harmed_sex_group for the sexes of its persons harmed."""
    return sexes[0] if len(set(sexes)) == 1 else domain.SEX_GROUP_MIXED


def draw_people(rng: random.Random, pick_age, pick_rel) -> tuple[list[dict], list[dict]]:
    """The facts of the persons harmed (1 to 3; group cases are pupils of one band) and of
    the alleged perpetrators (1 to 5, of one sex and relationship, as one group)."""
    band = pick_age(rng)
    role = "pupil" if band in CHILD_BANDS else rng.choice(domain.HARMED_ROLES)
    harmed = []
    for k in range(rng.choices(list(HARMED_COUNT_WEIGHTS), list(HARMED_COUNT_WEIGHTS.values()))[0]):
        harmed.append(
            {
                "sex": rng.choices(domain.SEXES, weights=(55, 42, 1, 2))[0],
                "age_band": band,
                "role": role,
                "disability": rng.choices(domain.YES_NO_UNKNOWN, weights=(4, 80, 16))[0],
                "ethnic_minority": rng.choices(domain.YES_NO_UNKNOWN, weights=(15, 70, 15))[0],
                "child": band in ("0-5", "6-10", "11-14"),
                "contact": DUMMY_CONTACT if k == 0 else None,
                "guardian_name": DUMMY_NAME if k == 0 else None,
                "guardian_contact": DUMMY_CONTACT if k == 0 else None,
            }
        )
    perpetrator = {
        "sex": rng.choices(domain.SEXES, weights=(25, 70, 1, 4))[0],
        "age_band": pick_age(rng),
        "relationship": pick_rel(rng),
    }
    count = rng.choices(list(PERPETRATOR_COUNT_WEIGHTS), list(PERPETRATOR_COUNT_WEIGHTS.values()))[
        0
    ]
    return harmed, [dict(perpetrator) for _ in range(count)]


def _step_row(
    step_id: int,
    uid: str,
    case_id: int,
    unit_id: int,
    received: date,
    kind: str,
    user_id: int,
    created: datetime,
    due: date | None,
    done: date | None,
    extra: dict,
) -> dict:
    row = {
        "id": step_id,
        "uid": uid,
        "case_id": case_id,
        "unit_id": unit_id,
        "received_on": received,
        "kind": kind,
        "created_by_id": user_id,
        "created_at": created,
        "due_on": due,
        "done_on": done,
        "method": None,
        "finding": None,
        "service": None,
        "status": None,
        "contact_id": None,
        "person_id": None,
        "consent_override": False,
        "situation": None,
        "next_on": None,
        "measure": None,
        "details": None,
        "version": 1,
    }
    row.update(extra)
    return row


def generate(
    n: int,
    schools: list[tuple[int, str]],
    user_id: int,
    today: date,
    numbers: dict[tuple[int, int], int],
    seed: int = 1,
    chunk: int = 20_000,
    after: Totals | None = None,
) -> Iterator[Batch]:
    """``n`` cases over ``schools`` ((unit id, code) pairs, the first ones busier), yielded in
    batches of ``chunk`` cases with their violence types, steps and transitions. Ids are given
    here (1..n and so on), so the caller resets the PostgreSQL sequences afterwards.
    ``numbers`` receives the last reference number per (school, year) (and, with ``after``,
    the rows of an earlier fill, goes on from it: ids after its ids, numbers after its
    numbers)."""
    rng = random.Random(seed)
    weights = [1 / (i + 1) ** 0.6 for i in range(len(schools))]
    which = rng.choices(range(len(schools)), weights=weights, k=n)
    ages = [int(rng.triangular(0, DAYS, 0)) for _ in range(n)]
    order = sorted(range(n), key=lambda i: -ages[i])  # oldest first: numbers follow dates
    pick_violence, pick_risk = _Picker(VIOLENCE_WEIGHTS), _Picker(RISK_WEIGHTS)
    pick_age, pick_rel = _Picker(AGE_WEIGHTS), _Picker(RELATIONSHIP_WEIGHTS)
    pick_finding = _Picker(FINDING_WEIGHTS)
    pick_status = [(limit, _Picker(w)) for limit, w in STATUS_BY_AGE]
    support_due: dict[date, date] = {}
    now = datetime.now(UTC)
    step_id = transition_id = person_id = 0
    first = 1
    if after is not None:
        first = after.cases + 1
        step_id, transition_id, person_id = after.steps, after.transitions, after.people
    batch = Batch()
    for case_id, i in enumerate(order, start=first):
        unit_id, code = schools[which[i]]
        age = ages[i]
        received = today - timedelta(days=age)
        number = numbers[(unit_id, received.year)] = numbers.get((unit_id, received.year), 0) + 1
        status = next(p for limit, p in pick_status if age < limit)(rng)
        risk = pick_risk(rng)
        harmed, perpetrators = draw_people(rng, pick_age, pick_rel)
        band = harmed[0]["age_band"]
        serious = band in CHILD_BANDS and rng.random() < 0.03
        urgent = risk == "immediate" or serious
        created = _at(received)
        if received not in support_due:
            support_due[received] = add_working_days(received, 5)
        verification_due = received + timedelta(days=10)
        reached = PATH.index(status) if status != "reopened" else len(PATH)
        batch.cases.append(
            {
                "id": case_id,
                "public_id": _uid(rng),
                "reference": f"{code}-{received.year}-{number:04d}",
                "unit_id": unit_id,
                "year": received.year,
                "number": number,
                "status": status,
                "received_on": received,
                "incident_on": received - timedelta(days=rng.randint(0, 14))
                if rng.random() < 0.7
                else None,
                "incident_date_approximate": rng.random() < 0.2,
                "received_via": rng.choice(domain.RECEIVED_VIA),
                "reporter_kind": rng.choice(domain.REPORTER_KINDS),
                "setting": rng.choices(domain.SETTINGS, weights=(55, 15, 10, 15, 5))[0],
                "child": any(p["child"] for p in harmed),
                "harmed_sex_group": sex_group([p["sex"] for p in harmed]),
                "risk_level": risk,
                "serious_risk_to_child": serious,
                "intervention_due_at": created + timedelta(hours=12) if urgent else None,
                "verification_due_on": verification_due,
                "support_due_on": support_due[received],
                "closure_requested_by_id": user_id if reached in (4, 5) else None,
                "closure_reason": "resolved" if reached in (4, 5) else None,
                "assigned_to_id": user_id if rng.random() < 0.9 else None,
                "created_by_id": user_id,
                "created_at": created,
                "updated_at": now,
                "wrapped_key": DUMMY_KEY,
                "key_destroyed_at": None,
                "closed_at": None,  # its last closure, set with the transitions below
                "narrative": DUMMY_NARRATIVE,
                "version": 1,
            }
        )
        first_harmed = person_id + 1
        for position, facts in (("harmed", harmed), ("perpetrator", perpetrators)):
            for ordinal, fact in enumerate(facts, start=1):
                person_id += 1
                batch.people.append(
                    person_row(person_id, _uid(rng), case_id, position, ordinal, created, fact)
                )
        kinds = {pick_violence(rng)}
        if rng.random() < 0.3:
            kinds.add(pick_violence(rng))
        batch.types.extend({"case_id": case_id, "type": t} for t in sorted(kinds))

        def day(offset: int, received=received) -> date:
            return min(received + timedelta(days=offset), today)

        # 0 to 3 steps, as the workflow would have left them for this status.
        steps: list[tuple[str, date | None, date | None, dict]] = []
        if reached >= 1:
            done = reached >= 2 or rng.random() < 0.3
            steps.append(
                (
                    "verification",
                    verification_due,
                    day(rng.randint(1, 13)) if done else None,
                    {"method": "interview", "finding": pick_finding(rng) if done else None},
                )
            )
        if reached >= 2 or (reached == 1 and urgent):
            provided = reached >= 3 or rng.random() < 0.5
            steps.append(
                (
                    "support",
                    support_due[received],
                    day(rng.randint(1, 8)) if provided else None,
                    {
                        "service": rng.choice(SERVICES),
                        "status": "provided" if provided else "planned",
                    },
                )
            )
        if reached == 3 and rng.random() < 0.9:  # open follow-up, some of them past due
            steps.append(("follow_up", today + timedelta(days=rng.randint(-20, 30)), None, {}))
        elif reached >= 4:
            steps.append(("follow_up", day(40), day(40), {"situation": "safe"}))
        # The moment the app keeps after every flush (services/cases/clocks.py), from the
        # rows made here: a Core or COPY load bypasses the session event.
        batch.cases[-1]["overdue_after"] = overdue_after(
            status,
            batch.cases[-1]["intervention_due_at"],
            verification_due,
            support_due[received],
            [
                StepFacts(kind, done_on, due, extra.get("finding"))
                for kind, due, done_on, extra in steps
            ],
        )
        for kind, due, done_on, extra in steps:
            step_id += 1
            if kind != "verification":  # support and follow-up: about the first person harmed
                extra = {**extra, "person_id": first_harmed}
            # The case's status and moment, as step_copies and cases.clocks keep them.
            extra = {
                **extra,
                "case_status": status,
                "case_overdue_after": batch.cases[-1]["overdue_after"],
            }
            batch.steps.append(
                _step_row(
                    step_id,
                    _uid(rng),
                    case_id,
                    unit_id,
                    received,
                    kind,
                    user_id,
                    created,
                    due,
                    done_on,
                    extra,
                )
            )
        for k in range(min(reached, len(PATH) - 1)):
            transition_id += 1
            batch.transitions.append(
                {
                    "id": transition_id,
                    "case_id": case_id,
                    "from_status": PATH[k],
                    "to_status": PATH[k + 1],
                    "at": _at(day(2 + 10 * k), 10),
                    "by_id": user_id,
                    "closure_reason": "resolved" if PATH[k + 1] == "closure_requested" else None,
                }
            )
            if PATH[k + 1] == "closed":  # as services/cases/closures.py keeps it
                batch.cases[-1]["closed_at"] = batch.transitions[-1]["at"]
        if status == "reopened":
            transition_id += 1
            batch.transitions.append(
                {
                    "id": transition_id,
                    "case_id": case_id,
                    "from_status": "closed",
                    "to_status": "reopened",
                    "at": _at(day(90), 10),
                    "by_id": user_id,
                    "closure_reason": None,
                }
            )
        if len(batch.cases) == chunk:
            yield batch
            batch = Batch()
    if batch.cases:
        yield batch


TABLES = (
    (Case.__table__, "cases"),
    (CasePerson.__table__, "people"),
    (CaseViolenceType.__table__, "types"),
    (CaseStep.__table__, "steps"),
    (CaseTransition.__table__, "transitions"),
)


def write_core(conn, batch: Batch, size: int = 5_000) -> None:
    """Bulk inserts (executemany) with SQLAlchemy Core, ``size`` rows a statement."""
    for table, attr in TABLES:
        rows = getattr(batch, attr)
        for i in range(0, len(rows), size):
            conn.execute(insert(table), rows[i : i + size])


def write_copy(dbapi_conn, batch: Batch) -> None:
    """PostgreSQL COPY FROM STDIN through psycopg's cursor.copy (one COPY per table)."""
    with dbapi_conn.cursor() as cur:
        for table, attr in TABLES:
            rows = getattr(batch, attr)
            cols = list(table.columns.keys())
            with cur.copy(f"COPY {table.name} ({', '.join(cols)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([row[c] for c in cols])


def fill(
    engine,
    n: int,
    schools: list[tuple[int, str]],
    user_id: int,
    today: date,
    use_copy: bool = False,
    seed: int = 1,
    after: Totals | None = None,
) -> tuple[Totals, dict[str, float]]:
    """Generate and write ``n`` cases in one transaction; returns the row counts and the
    seconds spent generating rows in Python, writing them, (PostgreSQL) VACUUM ANALYZE and
    CHECKPOINT, and waiting for the operating system to write its dirty pages out (settle).
    With ``after`` (the totals of an earlier fill of the same database) the cases are added to
    those (a benchmark measures at two sizes in one run); the totals returned cover both."""
    totals = Totals()
    spent = {"generate": 0.0, "write": 0.0, "analyze": 0.0, "settle": 0.0}
    pg = engine.dialect.name == "postgresql"
    numbers: dict[tuple[int, int], int] = dict(after.counters) if after else {}
    if use_copy and not pg:
        raise ValueError("COPY is PostgreSQL only")
    conn = engine.connect()
    try:
        dbapi = conn.connection.driver_connection
        if not pg:
            # Bench only: no fsync and an in-memory rollback journal while loading (run on
            # the driver connection before the transaction begins).
            dbapi.execute("PRAGMA synchronous=OFF")
            dbapi.execute("PRAGMA journal_mode=MEMORY")
        with conn.begin():
            t0 = time.perf_counter()
            for batch in generate(n, schools, user_id, today, numbers, seed=seed, after=after):
                t1 = time.perf_counter()
                spent["generate"] += t1 - t0
                if use_copy:
                    write_copy(dbapi, batch)
                else:
                    write_core(conn, batch)
                totals.add(batch)
                t0 = time.perf_counter()
                spent["write"] += t0 - t1
            if after is not None:
                counters = CaseCounter.__table__
                conn.execute(
                    counters.delete().where(counters.c.unit_id.in_([u for u, _code in schools]))
                )
            conn.execute(
                insert(CaseCounter.__table__),
                [
                    {"unit_id": u, "year": y, "last_number": last}
                    for (u, y), last in numbers.items()
                ],
            )
            # The monitoring tallies of the cases loaded (the service keeps them as it writes;
            # a bulk load recomputes them, one GROUP BY).
            tallies.rebuild(conn)
            if pg:
                for table in ("cases", "case_persons", "case_steps", "case_transitions"):
                    conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT coalesce(max(id), 1) FROM {table}))"
                        )
                    )
            spent["write"] += time.perf_counter() - t0
    finally:
        conn.close()
    if pg:
        # What autovacuum would do shortly after a load like this one.
        t0 = time.perf_counter()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE"))
            # The load's pages written out now, not by the checkpointer while the screens
            # are measured (after 1,000,000 cases, gigabytes: the shell of a page that reads
            # nothing of the archive took 9.7 ms there against 5.1 at 10,000).
            c.execute(text("CHECKPOINT"))
        spent["analyze"] = time.perf_counter() - t0
    # And the operating system's dirty pages (the database files, the WAL), likewise.
    t0 = time.perf_counter()
    os.sync()
    spent["settle"] = time.perf_counter() - t0
    totals.counters = numbers
    if after is not None:
        for name in ("cases", "people", "types", "steps", "transitions"):
            setattr(totals, name, getattr(totals, name) + getattr(after, name))
    return totals, spent


def jit_off(engine) -> None:
    """PostgreSQL: every new connection runs SET jit = off (committed, so that a rollback keeps
    it); the pool is emptied so that no connection keeps the server's default."""
    from sqlalchemy import event

    def off(dbapi_connection, _record):
        dbapi_connection.execute("SET jit = off")
        dbapi_connection.commit()

    event.listen(engine, "connect", off)
    engine.dispose()


def fill_to_sizes(
    engine,
    small: int,
    large: int,
    schools: list[tuple[int, str]],
    user_id: int,
    today: date,
    use_copy: bool = False,
) -> Iterator[tuple[Totals, dict[str, float], float]]:
    """Fill the database to ``small`` cases, then add to it up to ``large`` (when larger), so
    one run measures both sizes: yields the totals, the seconds of each part (as ``fill``)
    and the wall time of each fill."""
    totals: Totals | None = None
    for seed, size in enumerate([small] + ([large] if large > small else []), start=1):
        t0 = time.perf_counter()
        totals, spent = fill(
            engine,
            size - (totals.cases if totals else 0),
            schools,
            user_id,
            today,
            use_copy=use_copy,
            seed=seed,
            after=totals,
        )
        yield totals, spent, time.perf_counter() - t0
