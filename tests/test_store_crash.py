"""A writer killed with SIGKILL at random points leaves a consistent store.

``crash_writer.py`` writes as fast as it can (single writes and multi-write transactions) to a
real SQLite file; this test kills it at random moments, several rounds on the same file, and
after each kill opens the store and checks that rows and outbox agree exactly: no row change
without its outbox entry, no outbox entry without its row change, no half transaction, and
nothing committed before was lost.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from client_kit.store import DeviceStore
from crash_writer import BATCH_MEMBERS, BATCH_PREFIX
from store_helpers import consistency_problems

WRITER = Path(__file__).with_name("crash_writer.py")


def start_writer(path: Path, seed: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(WRITER.parent), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, str(WRITER), str(path), str(seed)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def kill(proc: subprocess.Popen[str]) -> str:
    """SIGKILL the writer; return what it wrote on stderr (empty unless it failed)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=10)
    return err


def batch_problems(store: DeviceStore) -> list[str]:
    """A household made in a batch has all its members and its visit, or is not there."""
    problems = []
    for (household_id, head) in store.conn.execute(
            "SELECT id, head_name FROM households WHERE head_name LIKE ?", (BATCH_PREFIX + "%",)):
        members = store.conn.execute("SELECT count(*) FROM persons WHERE household_id = ?",
                                     (household_id,)).fetchone()[0]
        visits = store.conn.execute("SELECT count(*) FROM visits WHERE household_id = ?",
                                    (household_id,)).fetchone()[0]
        if (members, visits) != (BATCH_MEMBERS, 1):
            problems.append(f"{head}: {members} members and {visits} visits")
    if store.conn.execute("SELECT count(*) FROM households WHERE note = '不应保存'").fetchone()[0]:
        problems.append("a rolled-back update was saved")
    return problems


def crash_rounds(tmp_path: Path, rounds: int, budget_s: float, seed: int) -> dict[str, int]:
    path = tmp_path / "crash.sqlite"
    rng = random.Random(seed)
    deadline = time.monotonic() + budget_s
    committed = 0
    done = 0
    for round_no in range(rounds):
        if time.monotonic() > deadline:
            break
        proc = start_writer(path, seed * 100 + round_no)
        try:
            if round_no % 3 == 2:
                # Kill at any moment from the start: during imports, migrations, the first write.
                time.sleep(rng.uniform(0.0, 0.8))
            else:
                assert proc.stdout is not None
                assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
                time.sleep(rng.uniform(0.0, 0.4))
        finally:
            err = kill(proc)
        assert proc.returncode == -signal.SIGKILL, f"writer ended by itself:\n{err}"
        if not path.exists():
            continue
        store = DeviceStore.open(path, device_id="dev-crash")
        try:
            assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            problems = consistency_problems(store) + batch_problems(store)
            assert not problems, f"round {round_no}:\n" + "\n".join(problems[:20])
            count = store.pending_count()
            assert count >= committed, "committed writes were lost"
            committed = count
        finally:
            store.close()
        done += 1
    return {"rounds": done, "outbox": committed}


def test_a_writer_killed_at_random_points_leaves_rows_and_outbox_consistent(tmp_path):
    result = crash_rounds(tmp_path, rounds=8, budget_s=10, seed=1)
    assert result["rounds"] >= 3
    assert result["outbox"] > 20  # the writer really wrote between kills


@pytest.mark.slow
def test_many_crash_rounds_leave_the_store_consistent(tmp_path):
    result = crash_rounds(tmp_path, rounds=60, budget_s=90, seed=2)
    assert result["rounds"] >= 20
