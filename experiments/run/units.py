"""The units of work of a run, as plain functions a worker process can run: solve the optimum, build
(train / tune) one policy, evaluate one policy on a list of episodes.

Each unit writes its result files atomically and its JSON record last, with the hash of its inputs:
the record is the unit's "done" mark (see :mod:`stocklab.experiments.store`). A unit never reads
another unit's half-written output, because a record only appears after everything it refers to.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from stocklab.envs.core.policy import Policy
from stocklab.envs.rollout import episode_infos
from stocklab.experiments.analysis.kpis import EpisodeStats
from stocklab.experiments.config import ExperimentConfig, PolicyConfig
from stocklab.experiments.run.builders import (
    BuildContext,
    Progress,
    builder,
    exact_cost,
    optimum_params,
    solve_optimum,
)
from stocklab.experiments.store import (
    TRACE_COLUMNS,
    read_json,
    read_pickle,
    write_csv,
    write_json,
    write_pickle,
)


@dataclass(frozen=True)
class PolicyUnit:
    """What identifies one policy's build: its config entry, training seed and input hash."""

    spec: PolicyConfig
    seed: int
    hash: str


@dataclass(frozen=True)
class Paths:
    """Where a run keeps each kind of file (all under ``root``)."""

    root: Path

    def policy_dir(self, name: str) -> Path:
        return self.root / "policies" / name

    def policy_record(self, name: str) -> Path:
        return self.policy_dir(name) / "record.json"

    def episode(self, name: str, index: int) -> Path:
        return self.root / "episodes" / name / f"{index:05d}.json"

    def trace(self, name: str) -> Path:
        return self.root / "traces" / f"{name}.csv"

    @property
    def optimum_dir(self) -> Path:
        return self.root / "optimum"


def _limit_threads() -> None:
    """One BLAS / torch thread per worker: the pool already uses every core it was given."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")


# ------------------------------------------------------------------------------------------ optimum
def optimum_job(cfg: ExperimentConfig, root: Path, unit_hash: str) -> dict[str, Any]:
    """Solve the DP optimum of the env; record its cost and pickle its policy."""
    paths = Paths(root)
    start = time.perf_counter()
    sol = solve_optimum(cfg.env, optimum_params(cfg))
    write_pickle(paths.optimum_dir / "solution.pkl", sol)
    record = {
        "hash": unit_hash,
        "cost": float(sol.cost),
        "states": getattr(sol, "states", None),
        "seconds": round(time.perf_counter() - start, 3),
    }
    write_json(paths.optimum_dir / "record.json", record)
    return record


def load_optimum(root: Path) -> Any:
    """The DP solution pickled by :func:`optimum_job`, or None."""
    path = Paths(root).optimum_dir / "solution.pkl"
    return read_pickle(path) if path.exists() else None


# -------------------------------------------------------------------------------------------- build
def _context(
    cfg: ExperimentConfig, root: Path, unit: PolicyUnit, eval_seeds: list[int], progress: Progress | None
) -> BuildContext:
    workdir = Paths(root).policy_dir(unit.spec.name)
    workdir.mkdir(parents=True, exist_ok=True)
    ctx = BuildContext(cfg.env, unit.spec, unit.seed, frozenset(eval_seeds), workdir)
    if progress is not None:
        ctx.progress = progress
    if unit.spec.kind == "optimal":
        ctx.optimum = load_optimum(root)
    return ctx


def build_job(
    cfg: ExperimentConfig,
    root: Path,
    unit: PolicyUnit,
    eval_seeds: list[int],
    exact: bool,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train / tune / solve one policy, save it, and write its record (params, info, exact cost)."""
    _limit_threads()
    ctx = _context(cfg, root, unit, eval_seeds, progress)
    b = builder(unit.spec.kind)
    start = time.perf_counter()
    built = b.build(ctx)
    seconds = time.perf_counter() - start
    if b.pickles:
        write_pickle(ctx.workdir / "policy.pkl", built.policy)
    if built.curve:
        write_csv(ctx.workdir / "learning_curve.csv", pd.DataFrame(built.curve))
    record = {
        "hash": unit.hash,
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
    return builder(unit.spec.kind).load(ctx, read_json(ctx.workdir / "record.json"))


# --------------------------------------------------------------------------------------- evaluation
def run_episode(
    cfg: ExperimentConfig, policy: Policy, seed: int, trace_periods: int = 0
) -> tuple[EpisodeStats, list[tuple[Any, ...]]]:
    """One evaluation episode: ``evaluation.warmup`` + measured periods under episode ``seed``.

    Returns the KPI sums of the measured periods and, for ``trace_periods`` > 0, the first measured
    periods as rows of :data:`~stocklab.experiments.store.TRACE_COLUMNS`. When the policy sees a
    forecast (observation field ``forecast_mean``, entry 0 = the period about to be served), each
    period's forecast is scored against its demand (forecast accuracy KPIs).
    """
    reset = getattr(policy, "reset", None)
    if callable(reset):
        reset()  # policies that count periods (forecast hooks) start a new episode
    spec = policy.obs_spec
    ip = spec.index("inventory_position").start
    fc = spec.index("forecast_mean").start if cfg.env.observation.information == "forecast" else None
    seen: list[tuple[float, float | None]] = []  # (inventory position, forecast) at each decision

    def act(obs: Any) -> int:
        seen.append((float(obs[ip]), None if fc is None else float(obs[fc])))
        return policy.act(obs)

    warmup = cfg.evaluation.warmup
    stats, trace = EpisodeStats(), []
    for t, info in enumerate(episode_infos(cfg.env, act, seed, cfg.eval_periods, warmup)):
        position, forecast = seen[warmup + t]
        stats.add(info if forecast is None else {**info, "forecast": forecast})
        if t < trace_periods:
            trace.append(
                (t, position, info["on_hand"], info["backlog"], info["order"], info["demand"], info["lost"])
            )
    return stats, trace


def episode_row(name: str, kind: str, index: int, seed: int, stats: EpisodeStats) -> dict[str, Any]:
    """One row of the per-episode results schema."""
    return {
        "policy": name, "kind": kind, "episode": index, "seed": seed, "periods": stats.periods,
        **stats.kpis(), "demand": stats.demand, "served_from_stock": stats.served_from_stock,
    }  # fmt: skip


def eval_job(
    cfg: ExperimentConfig,
    root: Path,
    unit: PolicyUnit,
    episodes: list[tuple[int, int, str]],
    progress: Progress | None = None,
) -> int:
    """Evaluate the built policy of ``unit`` on ``episodes`` = [(index, seed, unit hash)]; one record
    per episode (episode 0 also writes the trajectory trace). Returns the episodes run.
    """
    _limit_threads()
    paths = Paths(root)
    policy = load_policy(cfg, root, unit)
    name, kind = unit.spec.name, unit.spec.kind
    for done, (index, seed, unit_hash) in enumerate(episodes, start=1):
        n_trace = cfg.evaluation.trace_periods if index == 0 else 0
        stats, trace = run_episode(cfg, policy, seed, n_trace)
        if n_trace:
            write_csv(paths.trace(name), pd.DataFrame(trace, columns=list(TRACE_COLUMNS)))
        write_json(
            paths.episode(name, index),
            {"hash": unit_hash, "row": episode_row(name, kind, index, seed, stats)},
        )
        if progress is not None:
            progress(done, len(episodes))
    return len(episodes)
