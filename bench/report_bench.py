"""Time each policy report on a generated county of about 100,000 people.

    .venv/bin/python bench/report_bench.py [--people 100000] [--db /tmp/report-bench.sqlite]

The county is written with ``executemany`` straight into a server SQLite file (after the real
migrations), with a change log for every employment row and a year of history, a year of daily
attendance on 900 posts, trainings with sign-ins, visits and granted subsidies; ID numbers are
sealed with a data key as the server keeps them, and the reports open the ones they print. Each
report is then computed for the county, one township and one village, and the seconds printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sqlite3
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from client_kit.domain import record_type  # noqa: E402
from client_kit.domain.idcard import make_id_number  # noqa: E402
from client_kit.field_cipher import FieldCipher  # noqa: E402
from client_kit.store import RowCodec  # noqa: E402
from server.reporting import REPORTS, load_policy, parse_scope, run_report  # noqa: E402
from server.reporting.sql import reader  # noqa: E402
from server.storage import open_storage  # noqa: E402

COUNTY = "522731"
TODAY = dt.date(2025, 12, 31)
CATEGORY_SETS = [["tuopin"], ["tuopin"], ["tuopin"], ["dibao"], ["banqian"],
                 ["jiance_bianyuan"], ["tuopin", "banqian"], ["tekun"], []]
PROVINCES = ["广东", "浙江", "福建", "江苏", "上海"]
CIPHER = FieldCipher(bytes(32))


def _ids(rng: random.Random):  # type: ignore[no-untyped-def]
    while True:
        yield str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _at(day: dt.date) -> str:
    return f"{day.isoformat()}T04:00:00.000Z"


def generate(path: Path, people: int, seed: int = 1) -> dict[str, int]:
    if path.exists():
        path.unlink()
    storage = open_storage(f"sqlite:///{path}")
    storage.upgrade()
    storage.close()
    rng = random.Random(seed)
    ids = _ids(rng)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    villages_per_township, townships = 15, 20
    per_village = max(4, people // (villages_per_township * townships))
    villages, households, persons, employments, log = [], [], [], [], []
    posts, appointments, attendance, sessions, signins, visits, grants = [], [], [], [], [], [], []
    cursor = 0
    seal = RowCodec(record_type("person"), CIPHER).to_column  # as the server storage seals
    for t in range(townships):
        township = f"{COUNTY}{100 + t:03d}"
        for v in range(villages_per_township):
            code = f"{township}{201 + v:03d}"
            villages.append((str(uuid.uuid5(uuid.NAMESPACE_OID, code)), code, f"第{v + 1}村",
                             f"第{t + 1}镇", "长顺坝县"))
            members: list[tuple[str, str]] = []
            made = 0
            while made < per_village:
                hid = next(ids)
                categories = json.dumps(rng.choice(CATEGORY_SETS))
                households.append((hid, code, f"{code[-6:]}{len(households):05d}", "户主",
                                   categories, int("banqian" in categories)))
                for m in range(min(4, per_village - made)):
                    pid = next(ids)
                    made += 1
                    born = dt.date(rng.randint(1950, 2015), rng.randint(1, 12), rng.randint(1, 28))
                    age = TODAY.year - born.year
                    labour = ("none" if age < 16 or age > 70 else
                              rng.choice(("normal", "normal", "weak", "half", "lost")))
                    persons.append((pid, code, hid, f"成员{made}", seal("id_number", make_id_number(
                        COUNTY, born, len(persons) % 1000), pid), categories, labour,
                        "head" if m == 0 else "child"))
                    members.append((pid, labour))
                    if labour in ("normal", "weak", "half"):
                        cursor = _employment(rng, ids, code, pid, employments, log, cursor)
                if rng.random() < 0.3:
                    visits.append((next(ids), code, hid, (TODAY - dt.timedelta(
                        days=rng.randint(0, 120))).isoformat(), "工作队"))
            _posts_and_training(rng, ids, code, members, posts, appointments, attendance,
                                sessions, signins)
    for row in employments[::40]:
        grants.append((next(ids), row[1], row[2], "transport", 500, "2025-06-30"))
    _insert(conn, "villages", ("id", "village_code", "name", "township", "county"), villages)
    _insert(conn, "households", ("id", "village_code", "household_no", "head_name",
                                 "categories", "relocated"), households)
    _insert(conn, "persons", ("id", "village_code", "household_id", "name", "id_number",
                              "categories", "labour_capacity", "relation"), persons)
    _insert(conn, "employments", ("id", "village_code", "person_id", "status", "status_since",
                                  "not_working_reason", "destination", "province", "work_kind",
                                  "organised_export", "employer", "start_date", "long_contract",
                                  "insurance_months"), employments)
    _insert(conn, "change_log", ("cursor", "record_type", "row_id", "village_code", "fields",
                                 "versions", "at"), log)
    _insert(conn, "posts", ("id", "village_code", "name", "monthly_pay", "created_on"), posts)
    _insert(conn, "appointments", ("id", "village_code", "post_id", "person_id", "start_date",
                                   "end_date", "accident_insurance", "status"), appointments)
    _insert(conn, "attendance", ("id", "village_code", "post_id", "day", "person_id",
                                 "status"), attendance)
    _insert(conn, "training_sessions", ("id", "village_code", "title", "kind", "start_date",
                                        "end_date"), sessions)
    _insert(conn, "signins", ("id", "village_code", "session_id", "person_id", "day"), signins)
    _insert(conn, "visits", ("id", "village_code", "household_id", "visit_date", "visitors"),
            visits)
    _insert(conn, "subsidy_grants", ("id", "village_code", "person_id", "kind", "amount",
                                     "granted_on"), grants)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    return {"villages": len(villages), "households": len(households), "persons": len(persons),
            "employments": len(employments), "change_log": len(log), "posts": len(posts),
            "attendance": len(attendance), "signins": len(signins), "visits": len(visits)}


def _employment(rng, ids, code, pid, employments, log, cursor):  # type: ignore[no-untyped-def]
    eid = str(uuid.uuid5(uuid.NAMESPACE_OID, pid))
    start = TODAY - dt.timedelta(days=rng.randint(30, 1200))
    destination = rng.choice(("in_county", "in_province", "out_province", "out_province"))
    fields = {"person_id": pid, "status": "employed", "status_since": start.isoformat(),
              "destination": destination, "work_kind": rng.choice(("wugong", "workshop",
                                                                   "flexible", "farming")),
              "province": rng.choice(PROVINCES) if destination == "out_province" else "贵州",
              "organised_export": int(rng.random() < 0.4), "employer": "某公司",
              "start_date": start.isoformat(), "long_contract": int(rng.random() < 0.5),
              "insurance_months": rng.randint(0, 24)}
    cursor += 1
    log.append((cursor, "employment", eid, code, json.dumps(fields, ensure_ascii=False), "{}",
                _at(start)))
    if rng.random() < 0.15:  # lost the job during the last year
        since = TODAY - dt.timedelta(days=rng.randint(0, 365))
        change = {"status": "not_employed", "status_since": since.isoformat(),
                  "not_working_reason": "willing", "destination": None, "work_kind": None}
        cursor += 1
        log.append((cursor, "employment", eid, code, json.dumps(change), "{}", _at(since)))
        fields.update(change)
    employments.append((eid, code, fields["person_id"], fields["status"], fields["status_since"],
                        fields.get("not_working_reason"), fields["destination"],
                        fields["province"], fields["work_kind"], fields["organised_export"],
                        fields["employer"], fields["start_date"], fields["long_contract"],
                        fields["insurance_months"]))
    return cursor


def _posts_and_training(rng, ids, code, members, posts, appointments, attendance,  # type: ignore[no-untyped-def]
                        sessions, signins):
    holders = [pid for pid, labour in members if labour in ("weak", "half")]
    for name in ("护林员", "保洁员", "护路员")[:max(0, min(3, len(holders)))]:
        post_id, holder = next(ids), holders.pop()
        posts.append((post_id, code, name, 600, "2024-01-01"))
        appointments.append((next(ids), code, post_id, holder, "2025-01-01", "2025-12-31",
                             int(rng.random() < 0.9), "active"))
        day = dt.date(2025, 1, 1)
        while day <= TODAY:
            attendance.append((next(ids), code, post_id, day.isoformat(), holder,
                               "on_post" if rng.random() < 0.92 else "leave"))
            day += dt.timedelta(days=1)
    session_id = next(ids)
    start = dt.date(2025, rng.randint(1, 12), rng.randint(1, 20))
    sessions.append((session_id, code, "技能培训班", "skills", start.isoformat(),
                     (start + dt.timedelta(days=4)).isoformat()))
    for pid, _ in rng.sample(members, min(20, len(members))):
        for d in range(5):
            if rng.random() < 0.85:
                signins.append((next(ids), code, session_id, pid,
                                (start + dt.timedelta(days=d)).isoformat()))


def _insert(conn: sqlite3.Connection, table: str, columns: tuple[str, ...], rows: list) -> None:  # type: ignore[type-arg]
    conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES"
                     f" ({', '.join('?' for _ in columns)})", rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/cunsync-report-bench.sqlite"))
    args = parser.parse_args()
    started = time.perf_counter()
    counts = generate(args.db, args.people)
    print(f"generated in {time.perf_counter() - started:.1f}s: "
          + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    conn = reader(sqlite3.connect(args.db, isolation_level=None))
    policy = load_policy()
    scopes = [("county", COUNTY), ("township", f"{COUNTY}100"), ("village", f"{COUNTY}100201")]
    print(f"{'report':20} {'county':>9} {'township':>9} {'village':>9}   rows (county)")
    worst = 0.0
    for name in REPORTS:
        times, rows = [], 0
        for kind, code in scopes:
            scope = parse_scope(**{kind: code})
            t = time.perf_counter()
            report = run_report(conn, name, scope, policy, TODAY, {}, CIPHER)
            times.append(time.perf_counter() - t)
            if kind == "county":
                rows = sum(len(table.rows) for table in report.tables)
        worst = max(worst, *times)
        print(f"{name:20} " + " ".join(f"{s:8.3f}s" for s in times) + f"   {rows:,}")
    print(f"slowest: {worst:.3f}s (target: well under 2s)")
    conn.close()


if __name__ == "__main__":
    main()
