"""``stocklab run``: build (train / tune / solve) every policy of an experiment, evaluate all of them on
the same evaluation seeds (common random numbers), and write results and the report under
``<out>/<name>/``.

Resumable: a run is a set of units (the DP optimum, one build per policy, one evaluation episode per
policy and seed), each written atomically with the hash of its inputs (see :mod:`.jobs`). Re-running
the same command skips finished units, so a run killed at any point (crash, SIGKILL, Ctrl-C) finishes
with the results an uninterrupted run gives. Units run in ``jobs`` local processes; every episode
depends only on its policy and seed, so the results are the same for any ``jobs``.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import sys
import time
import zlib
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from stocklab.envs.core.errors import ConfigError
from stocklab.envs.core.seeding import episode_seeds
from stocklab.experiments.config import ExperimentConfig
from stocklab.experiments.run import units as jobs
from stocklab.experiments.run.manifest import finish, new_manifest, resume_manifest, stable_hash, versions
from stocklab.experiments.run.progress import ProgressBoard, worker_init, worker_reporter
from stocklab.experiments.store import (
    episodes_frame,
    read_json,
    read_unit,
    write_csv,
    write_json,
    write_text,
)

#: Spawn-key branch of training seeds: evaluation seeds use branches 0..episodes-1 of the same root.
TRAIN_BRANCH = 2**31


@dataclass
class Plan:
    """Everything a run computes, with each unit's input hash."""

    cfg: ExperimentConfig
    config_hash: str
    eval_seeds: list[int]
    units: dict[str, jobs.PolicyUnit]
    episode_hashes: dict[str, list[str]]
    optimum_hash: str | None
    exact: bool


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json", by_alias=True)


def train_seed(cfg: ExperimentConfig, name: str) -> int:
    """Training / tuning seed of policy ``name``: ``train.seed`` or derived from ``evaluation.seed`` and
    the name, on a SeedSequence branch the evaluation seeds never use.
    """
    spec = next(p for p in cfg.policies if p.name == name)
    if spec.train.seed is not None:
        return spec.train.seed
    seq = np.random.SeedSequence(cfg.evaluation.seed, spawn_key=(TRAIN_BRANCH, zlib.crc32(name.encode())))
    return int(seq.generate_state(1)[0])


def make_plan(cfg: ExperimentConfig) -> Plan:
    """Seeds and unit hashes of an experiment (pure: the same config gives the same plan)."""
    from stocklab.experiments.run.builders import check_policies, dp_instance, optimum_params

    if not cfg.policies:
        raise ConfigError(
            "policies: a run needs at least one policy, e.g. {name: base_stock, kind: base_stock}"
        )
    check_policies(cfg, deep=True)  # the checks that import torch, before any work
    env, ev = _dump(cfg.env), cfg.evaluation
    code = versions().get("stocklab")
    eval_seeds = episode_seeds(ev.seed, ev.episodes)
    exact = ev.exact
    if exact:
        try:
            dp_instance(cfg.env, params=optimum_params(cfg))
        except ConfigError:
            exact = False  # out of the DP's scope (or no DP): gaps stay unknown
    optimum_hash = stable_hash({"env": env, "code": code}) if exact else None
    units, episode_hashes = {}, {}
    for spec in cfg.policies:
        seed = train_seed(cfg, spec.name)
        if seed in eval_seeds:
            raise ConfigError(
                f"policies: training seed {seed} of '{spec.name}' is an evaluation seed; set train.seed"
            )
        h = stable_hash({"env": env, "policy": _dump(spec), "seed": seed, "exact": exact, "code": code})
        units[spec.name] = jobs.PolicyUnit(spec, seed, h)
        episode_hashes[spec.name] = [
            stable_hash(
                {
                    "policy": h,
                    "seed": s,
                    "periods": cfg.eval_periods,
                    "warmup": ev.warmup,
                    "trace": ev.trace_periods if i == 0 else 0,
                }
            )  # fmt: skip
            for i, s in enumerate(eval_seeds)
        ]
    return Plan(cfg, stable_hash(_dump(cfg)), eval_seeds, units, episode_hashes, optimum_hash, exact)


class _Inline(Executor):
    """Runs each job at submission in this process (``--jobs 1``): no pickling, same results."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:  # type: ignore[override]
        fut: Future = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            fut.set_exception(exc)
        return fut


# Pool entry points: module-level so that spawned workers can import them; progress goes through
# the queue handed to the worker at start-up.
def _pool_build(
    cfg: ExperimentConfig, root: Path, unit: jobs.PolicyUnit, seeds: list[int], exact: bool
) -> Any:
    return jobs.build_job(cfg, root, unit, seeds, exact, worker_reporter(("build", unit.spec.name)))


def _pool_eval(cfg: ExperimentConfig, root: Path, unit: jobs.PolicyUnit, episodes: list) -> int:
    return jobs.eval_job(cfg, root, unit, episodes, worker_reporter(("eval", unit.spec.name), tick=True))


@dataclass
class RunOptions:
    """How to run: output folder, worker processes, progress display, the command line (manifest)."""

    out: Path = Path("runs")
    jobs: int = 1
    progress: bool = True
    #: Build summary.json, plots and the report at the end (tests of the results alone skip it).
    report: bool = True
    command: list[str] | None = None
    log: Callable[[str], None] = field(default=lambda msg: None)


def write_config(cfg: ExperimentConfig, root: Path) -> None:
    """``config.yaml``: the config as run (overrides applied, data paths absolute; loadable again);
    ``config.resolved.yaml``: the same with every default filled in.
    """
    given = cfg.model_dump(mode="json", by_alias=True, exclude_unset=True)
    write_text(root / "config.yaml", yaml.safe_dump(given, sort_keys=False))
    write_text(root / "config.resolved.yaml", yaml.safe_dump(_dump(cfg), sort_keys=False))


def run_experiment(cfg: ExperimentConfig, opts: RunOptions | None = None) -> Path:
    """Run (or resume) an experiment; return its folder ``<out>/<name>``."""
    opts = opts or RunOptions()
    if opts.jobs < 1:
        raise ConfigError(f"--jobs (={opts.jobs}) must be >= 1")
    start = time.perf_counter()
    plan = make_plan(cfg)
    root = Path(opts.out) / cfg.name
    root.mkdir(parents=True, exist_ok=True)
    write_config(cfg, root)
    seeds = {
        "evaluation": plan.eval_seeds,
        "training": {n: u.seed for n, u in plan.units.items()},
        "evaluation_seed": cfg.evaluation.seed,
    }
    manifest = resume_manifest(
        read_json(root / "manifest.json"), new_manifest(plan.config_hash, seeds, opts.jobs, opts.command)
    )
    write_json(root / "manifest.json", manifest)
    _execute(plan, root, opts)
    collect(plan, root)
    from stocklab.experiments.analysis.report import rebuild

    wall = time.perf_counter() - start
    manifest = finish(manifest, wall)
    write_json(root / "manifest.json", manifest)
    if opts.report:
        rebuild(root)
    return root


#: Build order: the longest builds first (deep RL, then tabular, then the LP, whose evaluation is slow),
#: so that with several workers they overlap with the many short ones. Results do not depend on it.
_PRIORITY = {"ppo": 0, "a2c": 0, "dqn": 0, "q_learning": 1, "sarsa": 1, "lp": 2}


def _execute(plan: Plan, root: Path, opts: RunOptions) -> None:
    """Run every unfinished unit, builds before their evaluations, ``opts.jobs`` at a time."""
    cfg, paths = plan.cfg, jobs.Paths(root)
    board = ProgressBoard(enabled=opts.progress)
    pool: Executor
    if opts.jobs == 1:
        pool = _Inline()
    else:
        ctx = mp.get_context("spawn")  # fork after torch / BLAS threads exist can deadlock
        q = ctx.Queue()
        board.listen(q)
        pool = ProcessPoolExecutor(
            opts.jobs, mp_context=ctx, initializer=worker_init, initargs=(q, os.getpid())
        )
    inline = opts.jobs == 1
    pending: dict[Future, tuple[str, str]] = {}
    optimal = [n for n, u in plan.units.items() if u.spec.kind == "optimal"]

    def finished(what: str, name: str) -> None:
        if what == "optimum":
            board.finish(("optimum", ""))
            for n in optimal:
                start_build(n)
        elif what == "build":
            board.finish(("build", name))
            start_eval(name)

    def submit(what: str, name: str, fn: Callable[..., Any], *args: Any) -> None:
        fut = pool.submit(fn, *args)
        if inline:
            fut.result()  # re-raises the job's error
            finished(what, name)
        else:
            pending[fut] = (what, name)

    def start_eval(name: str) -> None:
        unit, n = plan.units[name], len(plan.eval_seeds)
        todo = [
            (i, s, h)
            for i, (s, h) in enumerate(zip(plan.eval_seeds, plan.episode_hashes[name]))
            if read_unit(paths.episode(name, i), h) is None
        ]
        board.add(("eval", name), f"evaluate {name}", n, n - len(todo))
        size = max(1, math.ceil(len(todo) / opts.jobs))
        for k in range(0, len(todo), size):
            chunk = todo[k : k + size]
            if inline:
                tick = board.reporter(("eval", name), tick=True)
                submit("eval", name, jobs.eval_job, cfg, root, unit, chunk, tick)
            else:
                submit("eval", name, _pool_eval, cfg, root, unit, chunk)

    def start_build(name: str) -> None:
        unit = plan.units[name]
        if read_unit(paths.policy_record(name), unit.hash) is not None:
            board.add(("build", name), f"build {name}", 1, 1)
            start_eval(name)
            return
        board.add(("build", name), f"build {name}", None, 0)
        if inline:
            report = board.reporter(("build", name))
            submit("build", name, jobs.build_job, cfg, root, unit, plan.eval_seeds, plan.exact, report)
        else:
            submit("build", name, _pool_build, cfg, root, unit, plan.eval_seeds, plan.exact)

    try:
        with board:
            optimum_ready = plan.optimum_hash is None or (
                read_unit(paths.optimum_dir / "record.json", plan.optimum_hash) is not None
            )
            if not optimum_ready:
                board.add(("optimum", ""), "solve DP optimum", None, 0)
                submit("optimum", "", jobs.optimum_job, cfg, root, plan.optimum_hash)
            for name in sorted(plan.units, key=lambda n: _PRIORITY.get(plan.units[n].spec.kind, 3)):
                if optimum_ready or name not in optimal:
                    start_build(name)  # in a pool, the optimal policy waits for the optimum it reuses
            while pending:
                done, _ = wait(list(pending), timeout=0.2, return_when=FIRST_COMPLETED)
                board.poll()
                for fut in done:
                    what, name = pending.pop(fut)
                    fut.result()  # re-raises a worker's error here
                    finished(what, name)
    except BaseException:
        _stop(pool)
        raise
    pool.shutdown(wait=True)


def _stop(pool: Executor) -> None:
    """Cancel what has not started and end the workers now (Ctrl-C, or a job failed): waiting for
    a long training job to finish would make Ctrl-C hang. Their finished units are already on disk.
    """
    processes = list((getattr(pool, "_processes", None) or {}).values())  # ProcessPoolExecutor's workers
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        if proc.is_alive():
            proc.terminate()


def collect(plan: Plan, root: Path) -> Path:
    """Gather every episode record into ``episodes.csv`` (config order of policies, then episodes)."""
    paths, rows = jobs.Paths(root), []
    for name, hashes in plan.episode_hashes.items():
        for i, h in enumerate(hashes):
            record = read_unit(paths.episode(name, i), h)
            if record is None:
                raise RuntimeError(f"episode {i} of {name} is missing after the run")  # a bug, not user error
            rows.append(record["row"])
    path = root / "episodes.csv"
    write_csv(path, episodes_frame(rows))
    return path


def run_from_file(config: Path, overrides: list[str] | None = None, opts: RunOptions | None = None) -> Path:
    """Load a config file (with ``--set`` overrides) and run it."""
    from stocklab.experiments.config import load_config

    cfg = load_config(config, overrides)
    opts = opts or RunOptions()
    if opts.command is None:
        opts.command = ["stocklab", *sys.argv[1:]]
    return run_experiment(cfg, opts)


def load_run_policy(run_dir: Path, name: str) -> tuple[Any, Any]:
    """The built policy ``name`` of a run folder (the one its evaluation used) and the env config it
    acts in; for ``stocklab export``. DataError when the folder or the policy's build is missing.
    """
    from stocklab.envs.core.errors import DataError, PolicyError, did_you_mean
    from stocklab.experiments.config import load_config

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise DataError(f"{run_dir}: no config.yaml; give the folder of a `stocklab run` (runs/<name>)")
    cfg = load_config(run_dir / "config.yaml", check=False)
    names = [p.name for p in cfg.policies]
    if name not in names:
        raise PolicyError(
            f"--policy {name!r}: not in this run.{did_you_mean(name, names)} Policies: {', '.join(names)}"
        )
    spec = next(p for p in cfg.policies if p.name == name)
    record = read_json(jobs.Paths(run_dir).policy_record(name))
    if not record or record.get("kind") != spec.kind:
        raise DataError(
            f"{run_dir}: policy {name!r} was not built yet; run `stocklab run` on its config first"
        )
    unit = jobs.PolicyUnit(spec, int(record["seed"]), record["hash"])
    return jobs.load_policy(cfg, run_dir, unit), cfg.env
