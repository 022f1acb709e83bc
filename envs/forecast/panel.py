"""Fit one forecaster to every series of a panel: batched, in worker processes, with progress.

Vectorised forecasters (ETS, Theta, their combination) fit a whole list of series in one batch
(:meth:`~stocklab.envs.forecast.base.Forecaster.fit_many`); global ones (the LSTM, gradient
boosting) train one model on all of them. :func:`fit_panel` cuts the panel into chunks and, with
``jobs`` > 1, fits local models' chunks in worker processes (spawned, so that no thread pool or torch
state is inherited); global models are always fitted in this process, on the whole panel. Each
series' fit does not depend on the others in its chunk, so results are the same for any ``jobs``.
"""

from __future__ import annotations

import inspect
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np

from stocklab.envs.forecast.base import Forecaster, forecaster_class

#: Progress callback: (series fitted so far, total series).
Progress = Callable[[int, int], None]


def fit_chunk(model: str, ys: list[np.ndarray], season: int, params: dict[str, Any]) -> list[Forecaster]:
    """Fit ``model`` to one piece of a panel (run in a worker process)."""
    # Worker processes share the cores: BLAS / OpenMP threads inside them only contend.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    return list(forecaster_class(model).fit_many(ys, season, **params))


def fit_panel(
    model: str,
    ys: list[np.ndarray],
    season: int = 1,
    params: dict[str, Any] | None = None,
    jobs: int = 1,
    chunks: int | None = None,
    progress: Progress | None = None,
    pool: Executor | None = None,
) -> list[Forecaster]:
    """One fitted ``model`` per series of ``ys`` (units per period), in the order given.

    Args:
        model: a registered forecaster name.
        ys: the series.
        season: periods per seasonal cycle.
        params: the forecaster's parameters.
        jobs: worker processes for local models (1: fit in this process).
        chunks: pieces the panel is cut into (default: one per job; bigger pieces vectorise better,
            smaller ones update the progress more often).
        progress: called after every piece with (series done, total).
        pool: worker processes to use instead of starting ``jobs`` new ones (starting a process
            imports numpy and scipy anew: a second or more on a busy machine).
    """
    cls = forecaster_class(model)
    params = dict(params or {})
    if cls.global_model or len(ys) == 0:
        if "jobs" in inspect.signature(cls.fit_many).parameters:
            params = {**params, "jobs": jobs, "progress": progress}
        fitted = list(cls.fit_many(list(ys), season, **params))
        if progress:
            progress(len(ys), len(ys))
        return fitted
    pieces = split_panel(ys, chunks or jobs)
    out: list[Forecaster] = []
    if jobs <= 1 and pool is None:
        for piece in pieces:
            out.extend(cls.fit_many(piece, season, **params))
            if progress:
                progress(len(out), len(ys))
        return out
    with _workers(jobs, pool) as executor:
        futures = [executor.submit(fit_chunk, model, piece, season, params) for piece in pieces]
        for future in futures:
            out.extend(future.result())
            if progress:
                progress(len(out), len(ys))
    return out


def split_panel(ys: list[np.ndarray], count: int) -> list[list[np.ndarray]]:
    """``ys`` cut into ``count`` consecutive pieces of nearly equal size (none empty)."""
    count = max(1, min(len(ys), count))
    bounds = np.linspace(0, len(ys), count + 1).astype(int)
    return [list(ys[a:b]) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


@contextmanager
def _workers(jobs: int, pool: Executor | None) -> Iterator[Executor]:
    """The given pool, or ``jobs`` new spawned worker processes shut down afterwards."""
    if pool is not None:
        yield pool
        return
    with worker_pool(jobs) as executor:
        yield executor


def worker_pool(jobs: int) -> ProcessPoolExecutor:
    """``jobs`` spawned worker processes (no thread pool or torch state inherited)."""
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
