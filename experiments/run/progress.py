"""Progress bars of a run (rich, on stderr, with ETA), fed directly or from worker processes.

Worker processes get a queue at start-up (:func:`worker_init`) and report through
:func:`worker_reporter`; the main process drains the queue in :meth:`ProgressBoard.poll`.
"""

from __future__ import annotations

import os
import queue as queue_mod
import signal
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

#: ``progress(done, total)``: absolute progress of a task (total None when unknown).
Reporter = Callable[[float, float | None], None]

_QUEUE: Any = None


def worker_init(q: Any, parent: int | None = None) -> None:
    """Pool initializer: remember the progress queue in the worker process; exit with the main process.

    The worker exits when the main process ``parent`` (pid) dies: after a SIGKILL of ``stocklab run`` no
    worker lingers (a worker whose parent is gone is re-parented, so its parent pid changes).
    """
    global _QUEUE
    _QUEUE = q
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle (it ends us)
    if parent is not None:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)  # the run was killed; finished units are on disk, the rest is redone on resume


def worker_reporter(key: Hashable, tick: bool = False) -> Reporter:
    """A reporter that sends ``(key, done, total, tick)`` to the main process.

    ``tick``: every call advances the task by one (chunks of one task report from several workers).
    """

    def report(done: float, total: float | None = None) -> None:
        if _QUEUE is not None:
            _QUEUE.put((key, done, total, tick))

    return report


class ProgressBoard:
    """One bar per task (``("build", name)``, ``("eval", name)``, ...): done / total, elapsed, ETA."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._queue: Any = None
        self._tasks: dict[Hashable, Any] = {}
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=not enabled,
        )

    def __enter__(self) -> ProgressBoard:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.poll()
        self._progress.stop()

    def listen(self, q: Any) -> None:
        """Read worker reports from ``q``."""
        self._queue = q

    def add(self, key: Hashable, description: str, total: float | None, completed: float = 0) -> None:
        """Show a task (``total`` None: unknown until the first report)."""
        self._tasks[key] = self._progress.add_task(description, total=total, completed=completed)

    def update(self, key: Hashable, done: float, total: float | None, tick: bool = False) -> None:
        """Apply one report to a task."""
        task = self._tasks.get(key)
        if task is None:
            return
        if tick:
            self._progress.advance(task, 1)
        else:
            self._progress.update(task, completed=done, total=total if total is not None else None)

    def finish(self, key: Hashable) -> None:
        """Mark a task complete."""
        task = self._tasks.get(key)
        if task is not None:
            total = next((t.total for t in self._progress.tasks if t.id == task), None) or 1
            self._progress.update(task, total=total, completed=total)

    def reporter(self, key: Hashable, tick: bool = False) -> Reporter:
        """A reporter for work in this process."""

        def report(done: float, total: float | None = None) -> None:
            self.update(key, done, total, tick)

        return report

    def poll(self) -> None:
        """Apply every report the workers have sent so far."""
        if self._queue is None:
            return
        while True:
            try:
                key, done, total, tick = self._queue.get_nowait()
            except queue_mod.Empty:
                return
            except (OSError, EOFError, ValueError):
                return
            self.update(key, done, total, tick)
