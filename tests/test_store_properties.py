"""Properties of the device store under any sequence of writes.

Whatever creates, updates, deletes, refused writes, rolled-back transactions and wall-clock
jumps happen, every field a row holds is explained by the outbox: its version is the
(hlc, device) of the latest outbox entry touching it and its value is that entry's value; every
outbox entry names a row; outbox sequence numbers and clocks strictly increase; a refused write
changes nothing at all.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any, Callable

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (Bundle, RuleBasedStateMachine, consumes, initialize, invariant,
                                 multiple, precondition, rule)

from client_kit.domain import enums
from client_kit.errors import CunsyncError
from client_kit.store import DeviceStore
from store_helpers import (FixedClock, add_post, add_session, assert_consistent, id_number,
                           is_chinese, seed)

TEXT = st.text(alphabet="白岩村王李张三组 ab1\n", max_size=24)  # some too long for a phone
MAYBE_TEXT = st.none() | TEXT
DAYS = st.sampled_from(["2026-03-01", "2026-03-02", "2026-03-04", "2026-03-06", "2026-03-08"])
CATEGORIES = st.lists(st.sampled_from(sorted(enums.CATEGORIES)), max_size=3)


class Rollback(Exception):
    """Raised on purpose inside a transaction."""


class StoreWrites(RuleBasedStateMachine):
    households = Bundle("households")
    persons = Bundle("persons")
    rows = Bundle("rows")

    def __init__(self) -> None:
        super().__init__()
        self.clock = FixedClock()
        self.store = DeviceStore.open(":memory:", device_id="dev-p", clock=self.clock,
                                      random=random.Random(7).randbytes)
        made = seed(self.store)
        self.post = add_post(self.store)
        self.session = add_session(self.store)
        self.first_household = made["household"]["id"]
        self.first_person = made["person"]["id"]
        self.refused = 0
        self.in_batch = False

    def teardown(self) -> None:
        self.store.close()

    # -- helpers ---------------------------------------------------------------------------

    def snapshot(self) -> dict[str, list[Any]]:
        conn = self.store.conn
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in tables}

    def attempt(self, write: Callable[[], Any]) -> Any:
        """Run one write; a refused write must change nothing and say why in Chinese."""
        before = None if self.in_batch else self.snapshot()
        try:
            return write()
        except CunsyncError as err:
            self.refused += 1
            assert is_chinese(err.message), err.message
            if before is not None:
                assert self.snapshot() == before
            return None

    @initialize(target=households)
    def the_seeded_household(self) -> Any:
        return ("household", self.first_household)

    @initialize(target=persons)
    def the_seeded_person(self) -> Any:
        return ("person", self.first_person)

    # -- rules -----------------------------------------------------------------------------

    @rule(target=households, head=TEXT, note=MAYBE_TEXT, phone=MAYBE_TEXT,
          categories=CATEGORIES)
    def create_household(self, head: str, note: str | None, phone: str | None,
                         categories: list[str]) -> Any:
        row = self.attempt(lambda: self.store.create("household", {
            "village_code": "522731100201", "head_name": head, "note": note, "phone": phone,
            "categories": categories}))
        return multiple(("household", row["id"])) if row else multiple()

    @rule(target=persons, household=households | st.just(None), sequence=st.integers(0, 999),
          birth=st.dates(dt.date(1940, 1, 1), dt.date(2020, 12, 31)),
          capacity=st.sampled_from(sorted(enums.LABOUR_CAPACITY)), bad_id=st.booleans())
    def create_person(self, household: tuple[str, str] | None, sequence: int, birth: dt.date,
                      capacity: str, bad_id: bool) -> Any:
        number = id_number(birth, sequence)
        if bad_id:
            number = number[:-1] + ("1" if number[-1] == "0" else "0")
        row = self.attempt(lambda: self.store.create("person", {
            "household_id": household[1] if household else self.first_household,
            "name": "王小二", "id_number": number, "labour_capacity": capacity}))
        return multiple(("person", row["id"])) if row else multiple()

    @rule(target=rows, person=persons, day=DAYS,
          status=st.sampled_from(sorted(enums.ATTENDANCE_STATUS)), note=MAYBE_TEXT)
    def record_attendance(self, person: tuple[str, str], day: str, status: str,
                          note: str | None) -> Any:
        row = self.attempt(lambda: self.store.create("attendance", {
            "post_id": self.post["id"], "day": day, "person_id": person[1], "status": status,
            "note": note}))
        return multiple(("attendance", row["id"])) if row else multiple()

    @rule(target=rows, person=persons, day=DAYS)
    def sign_in(self, person: tuple[str, str], day: str) -> Any:
        # Days outside 2026-03-02..06 are refused.
        row = self.attempt(lambda: self.store.create("signin", {
            "session_id": self.session["id"], "person_id": person[1], "day": day}))
        return multiple(("signin", row["id"])) if row else multiple()

    @rule(target=rows, person=persons, status=st.sampled_from(["active", "ended"]))
    def appoint(self, person: tuple[str, str], status: str) -> Any:
        # A second active post for one person is refused (一人一岗).
        extra = {"ended_on": "2026-05-01"} if status == "ended" else {}
        row = self.attempt(lambda: self.store.create("appointment", {
            "post_id": self.post["id"], "person_id": person[1], "start_date": "2026-03-01",
            "end_date": "2027-02-28", "status": status, **extra}))
        return multiple(("appointment", row["id"])) if row else multiple()

    @rule(target=rows, person=persons, employed=st.booleans(),
          income=st.none() | st.decimals(-10, 10_000, places=3, allow_nan=False))
    def record_employment(self, person: tuple[str, str], employed: bool, income: Any) -> Any:
        values: dict[str, Any] = {"person_id": person[1]}
        if employed:
            values.update(status="employed", destination="in_county", work_kind="wugong",
                          not_working_reason=None,
                          monthly_income=None if income is None else str(income))
        else:
            values.update(status="not_employed", not_working_reason="willing")
        row = self.attempt(lambda: self.store.create("employment", values))
        return multiple(("employment", row["id"])) if row else multiple()

    @rule(household=households, note=MAYBE_TEXT, address=MAYBE_TEXT, phone=MAYBE_TEXT,
          categories=CATEGORIES, year=st.none() | st.integers(2010, 2032))
    def update_household(self, household: tuple[str, str], note: str | None,
                         address: str | None, phone: str | None, categories: list[str],
                         year: int | None) -> None:
        self.attempt(lambda: self.store.update("household", household[1], {
            "note": note, "address": address, "phone": phone, "categories": categories,
            "lifted_year": year}))

    @rule(person=persons, data=st.data())
    def update_person(self, person: tuple[str, str], data: st.DataObject) -> None:
        changes = data.draw(st.fixed_dictionaries({}, optional={
            "name": TEXT, "note": MAYBE_TEXT, "phone": MAYBE_TEXT, "categories": CATEGORIES,
            "labour_capacity": st.sampled_from(sorted(enums.LABOUR_CAPACITY)),
            "sex": st.sampled_from(["male", "female"]),
        }))
        self.attempt(lambda: self.store.update("person", person[1], changes))

    @rule(row=rows, note=MAYBE_TEXT)
    def update_note(self, row: tuple[str, str], note: str | None) -> None:
        field = "end_reason" if row[0] == "appointment" else "note"
        self.attempt(lambda: self.store.update(row[0], row[1], {field: note}))

    @rule(row=consumes(rows) | consumes(persons) | consumes(households))
    def delete(self, row: tuple[str, str]) -> None:
        self.attempt(lambda: self.store.delete(*row))

    @rule(ms=st.integers(-86_400_000 * 40, 86_400_000))
    def move_wall_clock(self, ms: int) -> None:
        self.clock.advance(ms)

    @precondition(lambda self: not self.in_batch)
    @rule(household=households, notes=st.lists(MAYBE_TEXT, min_size=1, max_size=4),
          fail=st.booleans())
    def batch(self, household: tuple[str, str], notes: list[str | None], fail: bool) -> None:
        """Several writes in one transaction; when it fails, none of them stays."""
        before = self.snapshot()
        self.in_batch = True
        try:
            with self.store.transaction():
                for note in notes:
                    self.attempt(lambda: self.store.update("household", household[1],
                                                           {"note": note}))
                    self.attempt(lambda: self.store.create("visit", {
                        "household_id": household[1], "visit_date": "2026-03-01",
                        "visitors": "张干部", "findings": note}))
                if fail:
                    raise Rollback
        except Rollback:
            assert self.snapshot() == before
        finally:
            self.in_batch = False

    # -- what must always hold -------------------------------------------------------------

    @invariant()
    def rows_and_outbox_agree(self) -> None:
        assert_consistent(self.store)


StoreWrites.TestCase.settings = settings(settings.default, stateful_step_count=40)
test_any_sequence_of_writes_leaves_rows_and_outbox_in_agreement = StoreWrites.TestCase
