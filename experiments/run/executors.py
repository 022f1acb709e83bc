"""Executors: where a run's units execute. Results never depend on the executor.

Every unit is a module-level function of :mod:`stocklab.experiments.run.units` whose result depends
only on its arguments, so running it inline, in a local worker process or (later) on a cluster gives
the same files. An executor only decides where; the runner decides what and in which order.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Hashable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from stocklab.experiments.run.progress import ProgressBoard, worker_init, worker_reporter


def _in_worker(fn: Callable[..., Any], key: Hashable, tick: bool, args: tuple[Any, ...]) -> Any:
    """Run ``fn(*args)`` in a worker process, its progress reported to the main process's board."""
    return fn(*args, progress=worker_reporter(key, tick=tick))


class LocalExecutor:
    """Runs units in this process (``jobs`` = 1) or in a pool of ``jobs`` spawned worker processes.

    Workers are spawned, not forked: forking after torch or BLAS threads exist can deadlock. Workers
    ignore Ctrl-C (the main process handles it and ends them) and exit when the main process dies.
    """

    def __init__(self, jobs: int, board: ProgressBoard) -> None:
        self.jobs, self.board = jobs, board
        self.inline = jobs == 1
        self._pool: ProcessPoolExecutor | None = None
        if not self.inline:
            ctx = mp.get_context("spawn")
            queue = ctx.Queue()
            board.listen(queue)
            self._pool = ProcessPoolExecutor(
                jobs, mp_context=ctx, initializer=worker_init, initargs=(queue, os.getpid())
            )

    def submit(self, key: Hashable, fn: Callable[..., Any], *args: Any, tick: bool = False) -> Future:
        """Start ``fn(*args, progress=...)``; inline, it has finished (or raised) when this returns."""
        if self._pool is not None:
            return self._pool.submit(_in_worker, fn, key, tick, args)
        fut: Future = Future()
        try:
            fut.set_result(fn(*args, progress=self.board.reporter(key, tick=tick)))
        except Exception as exc:  # noqa: BLE001 - handed to the runner through the future
            fut.set_exception(exc)
        return fut

    def wait(self, futures: list[Future], timeout: float = 0.2) -> set[Future]:
        """The futures among ``futures`` that finished within ``timeout`` seconds."""
        done, _ = wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)
        self.board.poll()
        return set(done)

    def shutdown(self) -> None:
        """Wait for the workers to exit after the last unit."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def stop(self) -> None:
        """End everything now (Ctrl-C, or a unit failed); finished units are already on disk.

        Waiting for a long training unit to finish would make Ctrl-C hang, so the workers are
        terminated.
        """
        if self._pool is None:
            return
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            if proc.is_alive():
                proc.terminate()
