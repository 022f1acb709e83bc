"""The units of work of a run, as plain functions any executor can run in any process.

Solve the optimum, build (tune / train / solve) one policy, evaluate one policy on a list of
episodes. Each unit writes its files atomically and its JSON record last, with the unit's hash: the
record is the unit's "done" mark (see :mod:`stocklab.experiments.store`). Nothing here unpickles:
policies are saved and reloaded by their kind in safe formats (JSON, npz without pickle, tensors).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from stocklab.baselines.exact.solver import OptimalPolicy
from stocklab.baselines.exact.tables import (
    exact_cost,
    load_optimal,
    optimum_params,
    save_optimal,
    solve_optimum,
)
from stocklab.envs.core.kinds import BuildContext, Progress
from stocklab.envs.core.policy import Policy
from stocklab.experiments.analysis.evaluate import episode_row, run_episodes
from stocklab.experiments.config import ExperimentConfig
from stocklab.experiments.kinds import REGISTRY
from stocklab.experiments.run.plan import PolicyUnit
from stocklab.experiments.store import TRACE_COLUMNS, RunFolder, read_json, write_csv, write_json

#: Evaluation episodes simulated together (one batched-engine run): big enough to amortise the
#: engine, small enough that the progress bar moves.
EVAL_BATCH = 8


@dataclass
class Optimum:
    """The run's DP optimum as the optimal kind reuses it: cost per period, policy, size, time."""

    cost: float
    policy: OptimalPolicy
    states: int | None = None
    seconds: float | None = None


def _limit_threads() -> None:
    """One BLAS / torch thread per worker: the executor already uses every core it was given."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")


# ------------------------------------------------------------------------------------------ optimum
def optimum_job(
    cfg: ExperimentConfig, root: Path, unit_hash: str, code: str = "", progress: Progress | None = None
) -> dict[str, Any]:
    """Solve the DP optimum of the env; save its state table, then its record."""
    folder = RunFolder(root)
    start = time.perf_counter()
    sol = solve_optimum(cfg.env, optimum_params(cfg.policies), progress)
    save_optimal(sol.policy, folder.optimum_dir)
    record = {
        "hash": unit_hash,
        "code": code,
        "cost": float(sol.cost),
        "states": getattr(sol, "states", None),
        "seconds": round(time.perf_counter() - start, 3),
    }
    write_json(folder.optimum_record, record)
    return record


def load_optimum(cfg: ExperimentConfig, root: Path) -> Optimum | None:
    """The optimum :func:`optimum_job` saved, or None when the run has none."""
    folder = RunFolder(root)
    record = read_json(folder.optimum_record)
    if not isinstance(record, dict):
        return None
    policy = load_optimal(folder.optimum_dir, cfg.env)
    return Optimum(float(record["cost"]), policy, record.get("states"), record.get("seconds"))


# -------------------------------------------------------------------------------------------- build
def _context(
    cfg: ExperimentConfig, root: Path, unit: PolicyUnit, eval_seeds: list[int], progress: Progress | None
) -> BuildContext:
    workdir = RunFolder(root).policy_dir(unit.spec.name)
    workdir.mkdir(parents=True, exist_ok=True)
    ctx = BuildContext(cfg.env, unit.spec, unit.seed, frozenset(eval_seeds), workdir, unit_hash=unit.hash)
    if progress is not None:
        ctx.progress = progress
    if REGISTRY.get(unit.spec.kind).uses_optimum:
        ctx.optimum = load_optimum(cfg, root)
    return ctx


def build_job(
    cfg: ExperimentConfig,
    root: Path,
    unit: PolicyUnit,
    eval_seeds: list[int],
    exact: bool,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Tune / train / solve one policy, save it, and write its record (params, info, exact cost)."""
    _limit_threads()
    ctx = _context(cfg, root, unit, eval_seeds, progress)
    start = time.perf_counter()
    built = REGISTRY.get(unit.spec.kind).build(ctx)
    seconds = time.perf_counter() - start
    if built.curve:
        write_csv(ctx.workdir / "learning_curve.csv", pd.DataFrame(built.curve))
    record = {
        "hash": unit.hash,
        "code": unit.code,
        "name": unit.spec.name,
        "kind": unit.spec.kind,
        "seed": unit.seed,
        "params": built.policy.params(),
        "build_params": built.build_params,
        "info": built.info,
        "build_seconds": round(seconds, 3),
        "exact_cost": exact_cost(cfg.env, built.policy) if exact else None,
        "learning_curve": bool(built.curve),
    }
    write_json(ctx.workdir / "record.json", record)
    return record


def load_policy(cfg: ExperimentConfig, root: Path, unit: PolicyUnit) -> Policy:
    """The policy that :func:`build_job` built for ``unit``."""
    ctx = _context(cfg, root, unit, [], None)
    return REGISTRY.get(unit.spec.kind).load(ctx, read_json(ctx.workdir / "record.json") or {})


# --------------------------------------------------------------------------------------- evaluation
def eval_job(
    cfg: ExperimentConfig,
    root: Path,
    unit: PolicyUnit,
    episodes: list[tuple[int, int, str]],
    code: str = "",
    progress: Progress | None = None,
) -> int:
    """Evaluate the built policy of ``unit`` on ``episodes`` = [(index, seed, unit hash)].

    Writes one record per episode (episode 0 also writes the trajectory trace); returns the number
    of episodes run.
    """
    _limit_threads()
    folder = RunFolder(root)
    policy = load_policy(cfg, root, unit)
    name, kind, ev = unit.spec.name, unit.spec.kind, cfg.evaluation
    done = 0
    for k in range(0, len(episodes), EVAL_BATCH):
        batch = episodes[k : k + EVAL_BATCH]
        n_trace = ev.trace_periods if any(index == 0 for index, _, _ in batch) else 0
        results = run_episodes(
            cfg.env, policy, [s for _, s, _ in batch], cfg.eval_periods, ev.warmup, n_trace
        )
        for (index, seed, unit_hash), (stats, trace) in zip(batch, results):
            if index == 0 and n_trace:
                write_csv(folder.trace(name), pd.DataFrame(trace, columns=list(TRACE_COLUMNS)))
            row = episode_row(name, kind, index, seed, stats)
            write_json(folder.episode(name, index), {"hash": unit_hash, "code": code, "row": row})
            done += 1
            if progress is not None:
                progress(done, len(episodes))
    return len(episodes)
