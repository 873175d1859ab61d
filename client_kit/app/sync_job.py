"""The sync as a background job: the page starts it, then polls its progress.

One job at a time per app. The work runs on its own connection to the store, so the pages stay
usable while it runs; whatever happens, the outbox keeps every record not yet acknowledged.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import CunsyncError, Offline, ServerBusy
from ..sync_client import Progress, SyncSummary

log = logging.getLogger(__name__)

Work = Callable[[Progress], SyncSummary]

STAGE_LABELS = {"connect": "正在连接服务器", "push": "正在上传", "pull": "正在下载"}


@dataclass
class JobState:
    """What the sync page shows: ``state`` is idle, running, done, offline or failed."""

    state: str = "idle"
    stage: str = ""
    done: int = 0
    total: int = 0
    summary: SyncSummary | None = None
    message: str = ""
    code: str = ""
    finished_at: float | None = None

    @property
    def percent(self) -> int:
        """Overall progress: pushing is the first half, pulling the second."""
        if self.state == "done":
            return 100
        part = self.done / self.total if self.total else 0.0
        if self.stage == "push":
            return int(50 * part)
        if self.stage == "pull":
            return 50 + int(50 * part)
        return 0

    def as_json(self) -> dict[str, Any]:
        summary = None
        if self.summary is not None:
            summary = {"sent": self.summary.sent, "received": self.summary.received,
                       "conflicts": self.summary.conflicts}
        return {"state": self.state, "stage": self.stage,
                "stage_label": STAGE_LABELS.get(self.stage, ""), "done": self.done,
                "total": self.total, "percent": self.percent, "summary": summary,
                "message": self.message, "code": self.code}


def summary_text(summary: SyncSummary) -> str:
    text = (f"同步完成：上传 {summary.sent} 条，下载 {summary.received} 条，"
            f"新冲突 {summary.conflicts} 条")
    if summary.refused:
        text += f"；县里退回 {summary.refused} 条（见下方“被退回的变更”）"
    return text


class SyncJob:
    """Runs one sync at a time in a daemon thread and reports its progress."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = JobState()
        self._thread: threading.Thread | None = None

    def start(self, work: Work) -> bool:
        """Start ``work`` unless a sync is already running; ``True`` if it started."""
        with self._lock:
            if self._state.state == "running":
                return False
            self._state = JobState(state="running", stage="connect")
            self._thread = threading.Thread(target=self._run, args=(work,), daemon=True,
                                            name="cunsync-field-sync")
            self._thread.start()
        return True

    def snapshot(self) -> JobState:
        with self._lock:
            return JobState(**vars(self._state))

    def wait(self, timeout: float | None = None) -> JobState:
        """Wait for the running job to end (tests, shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.snapshot()

    def _progress(self, stage: str, done: int, total: int) -> None:
        with self._lock:
            self._state.stage, self._state.done, self._state.total = stage, done, total

    def _finish(self, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(self._state, key, value)
            self._state.finished_at = time.time()

    def _run(self, work: Work) -> None:
        try:
            summary = work(self._progress)
        except (Offline, ServerBusy) as err:
            # The transport says which: no network, server down or silent, a cut reply, busy.
            log.info("field app sync offline: %s", err.message)
            self._finish(state="offline", message=err.message, code=err.code)
        except CunsyncError as err:
            self._finish(state="failed", message=err.message, code=err.code)
        except Exception:  # the page must learn the sync ended; the log keeps the details
            log.exception("field app sync failed")
            self._finish(state="failed", code="internal",
                         message="同步出错，未同步的记录仍保存在本设备上，请稍后再试")
        else:
            self._finish(state="done", summary=summary, message=summary_text(summary))
