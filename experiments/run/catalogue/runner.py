"""``stocklab run`` on a catalogue config: build every policy, evaluate all on the same SKUs and demand.

Units of work: the Lagrangian lower bound (where it applies) and one job per policy (tune or fit on
the tuning scenarios, then evaluate every episode on the batched engine). With ``--jobs J`` the
jobs run in J spawned worker processes, each building the catalogue once; every episode depends
only on its policy and seed, so results do not depend on J. The run folder ``<out>/<name>/`` gets
``config.yaml``, ``catalogue_episodes.csv``, ``catalogue_periods.csv``, ``catalogue_trace.csv``,
``catalogue_run.json`` (limits, bound, timings, policy parameters), then the report
(:mod:`stocklab.experiments.analysis.catalogue.report`). Every file is written atomically.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from stocklab.envs.catalogue.catalogue import Catalogue
from stocklab.envs.core.seeding import episode_seeds
from stocklab.envs.core.storage import stable_hash
from stocklab.experiments.run.catalogue.config import CatalogueExperiment, parse_catalogue_experiment
from stocklab.experiments.store import RunFolder, write_csv, write_json, write_text

#: Catalogues built in this process, by the hash of their sections (workers build each once).
_BUILT: dict[str, Catalogue] = {}


def catalogue_of(exp: CatalogueExperiment, base_dir: str | None) -> Catalogue:
    """The experiment's catalogue (built once per process)."""
    from stocklab.envs.catalogue.build import build_catalogue

    key = stable_hash({"env": exp.env, "catalogue": exp.catalogue.model_dump(mode="json"), "dir": base_dir})
    if key not in _BUILT:
        _BUILT[key] = build_catalogue(exp.catalogue, exp.env, base_dir)
    return _BUILT[key]


def eval_periods(exp: CatalogueExperiment, catalogue: Catalogue) -> int:
    """Measured periods per episode: ``evaluation.periods``, else the replayed window, else ``env.periods``."""
    if exp.evaluation.periods is not None:
        return exp.evaluation.periods
    return int(catalogue.periods or catalogue.configs[0].periods)


def policy_job(
    data: dict[str, Any], base_dir: str | None, index: int, save: tuple[str, str, str] | None = None
) -> dict[str, Any]:
    """Build policy ``index`` of the experiment and evaluate it (runs in a worker); tables and timings.

    ``save``: (run folder, job name, job hash): keep the result there once done (a resumable unit).
    """
    from stocklab.experiments.run.catalogue.evaluate import evaluate
    from stocklab.experiments.run.catalogue.policies import build_policy
    from stocklab.experiments.run.catalogue.results import episode_rows, period_rows, trace_frame

    exp = parse_catalogue_experiment(data)
    catalogue = catalogue_of(exp, base_dir)
    spec, ev = exp.policies[index], exp.evaluation
    t0 = time.perf_counter()
    policy = build_policy(catalogue, exp, spec)
    t1 = time.perf_counter()
    seeds = episode_seeds(ev.seed, ev.episodes)
    episodes = evaluate(catalogue, policy, seeds, eval_periods(exp, catalogue), ev.warmup)
    t2 = time.perf_counter()
    mean_cost = np.mean([sum(e.sums[c] for c in ("holding_cost", "shortage_cost", "fixed_cost", "unit_cost",
                                                 "overflow_cost")) / max(e.periods, 1) for e in episodes], axis=0)  # fmt: skip
    worst = [int(i) for i in np.argsort(-mean_cost, kind="stable")[: ev.worst]]
    return _saved(save, {
        "name": spec.name, "kind": spec.kind, "params": _jsonable(policy.params()),
        "episodes": episode_rows(spec.name, spec.kind, episodes, catalogue),
        "periods": period_rows(spec.name, episodes),
        "trace": trace_frame(spec.name, episodes[0], catalogue, worst),
        "build_seconds": t1 - t0, "eval_seconds": t2 - t1,
    })  # fmt: skip


def _saved(save: tuple[str, str, str] | None, result: dict[str, Any]) -> dict[str, Any]:
    if save is not None:
        from stocklab.experiments.run.catalogue.units import save_job

        save_job(save[0], save[1], save[2], result)
    return result


def bound_job(
    data: dict[str, Any], base_dir: str | None, save: tuple[str, str, str] | None = None
) -> dict[str, Any]:
    """The Lagrangian lower bound of the experiment's catalogue (runs in a worker; ``save`` as policy_job's)."""
    from stocklab.baselines.catalogue.bound import lagrangian_bound

    exp = parse_catalogue_experiment(data)
    catalogue = catalogue_of(exp, base_dir)
    t0 = time.perf_counter()
    bound = lagrangian_bound(catalogue, time_limit=exp.evaluation.bound_seconds)
    return _saved(save, {**bound.to_dict(), "seconds": time.perf_counter() - t0})


def run_catalogue(data: dict[str, Any], base_dir: str | None, opts: Any) -> Path:
    """Run a catalogue experiment (raw config ``data``) with ``opts`` (a RunOptions); return its folder."""
    from stocklab.experiments.analysis.catalogue.report import rebuild
    from stocklab.experiments.run.runner import check_run_folder

    start = time.perf_counter()
    exp = parse_catalogue_experiment(data)
    root = check_run_folder(Path(opts.out), exp.name)
    catalogue = catalogue_of(exp, base_dir)  # validates the catalogue before any work
    with RunFolder(root).lock():
        write_text(root / "config.yaml", yaml.safe_dump(data, sort_keys=False))
        results, bound = _run_jobs(exp, data, base_dir, opts, root.resolve())
        _write(root, exp, catalogue, results, bound, time.perf_counter() - start, base_dir)
        if opts.report:
            rebuild(root)
        meta_path = root / "catalogue_run.json"
        meta = _read(meta_path)
        meta["seconds"] = time.perf_counter() - start
        write_json(meta_path, meta)
    return root


def _read(path: Path) -> dict[str, Any]:
    from stocklab.envs.core.storage import read_json

    return read_json(path) or {}


def _run_jobs(
    exp: CatalogueExperiment, data: dict[str, Any], base_dir: str | None, opts: Any, root: Path
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Run every unfinished job (policies, bound) inline (jobs = 1) or in spawned workers.

    With a progress bar; the jobs a previous run finished (:mod:`~.units`) are read back instead.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from stocklab.experiments.run.catalogue.units import BOUND, job_hashes, load_job

    hashes = job_hashes(data, base_dir)
    n = len(exp.policies)
    tasks: list[tuple[str, Any, tuple[Any, ...]]] = (
        [(BOUND, bound_job, (data, base_dir, (str(root), BOUND, hashes[BOUND])))]
        if exp.evaluation.bound
        else []
    )
    # longest first (training, then the coordinator's calibration), so that no worker idles at the end
    rank = {"shared_ppo": 0, "lagrangian": 1}
    order = sorted(range(n), key=lambda i: rank.get(exp.policies[i].kind, 2))
    for i in order:
        name = exp.policies[i].name
        tasks.append((name, policy_job, (data, base_dir, i, (str(root), name, hashes[name]))))
    out: dict[str, Any] = {}
    for name, _, _ in tasks:  # finished before the run was cut short: read back, not recomputed
        done = load_job(root, name, hashes[name])
        if done is not None:
            out[name] = done
    tasks = [t for t in tasks if t[0] not in out]
    if out and opts.progress:
        sys.stderr.write(f"catalogue {exp.name}: resuming; {len(out)} job(s) already done\n")
    show = bool(opts.progress) and sys.stderr.isatty()
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), TimeRemainingColumn(), disable=not show, transient=True) as bar:  # fmt: skip
        task = bar.add_task(f"catalogue {exp.name}: build and evaluate", total=len(tasks))
        if opts.jobs <= 1:
            for name, fn, args in tasks:
                out[name] = fn(*args)
                bar.advance(task)
        else:
            with ProcessPoolExecutor(opts.jobs, mp_context=mp.get_context("spawn")) as pool:
                futs: dict[Future, str] = {pool.submit(fn, *args): name for name, fn, args in tasks}
                for fut in as_completed(futs):
                    out[futs[fut]] = fut.result()
                    bar.advance(task)
    for name, _, _ in tasks:  # computed now: read back as a resumed run reads it (the same bytes)
        out[name] = load_job(root, name, hashes[name]) or out[name]
    bound = out.pop(BOUND, None) if exp.evaluation.bound else None
    return [out[p.name] for p in exp.policies], bound


def _write(
    root: Path, exp: CatalogueExperiment, catalogue: Catalogue, results: list[dict[str, Any]],
    bound: dict[str, Any] | None, seconds: float, base_dir: str | None = None,
) -> None:  # fmt: skip
    """The run's tables and ``catalogue_run.json``."""
    write_csv(root / "catalogue_episodes.csv", pd.concat([r["episodes"] for r in results], ignore_index=True))
    write_csv(root / "catalogue_periods.csv", pd.concat([r["periods"] for r in results], ignore_index=True))
    write_csv(root / "catalogue_trace.csv", pd.concat([r["trace"] for r in results], ignore_index=True))
    shared = catalogue.shared
    cap = None if shared is None or shared.capacity is None else float(shared.capacity.limit)
    bud = None if shared is None or shared.budget is None else float(shared.budget.limit)
    tuned = "each SKU's demand model" if all(c.demand.stationary for c in catalogue.configs) else (
        "each SKU's train-split demand distribution (the test period is never seen)")  # fmt: skip
    meta = {
        "experiment": exp.name, "catalogue": _jsonable(catalogue.summary()), "capacity": cap, "budget": bud,
        "episodes": exp.evaluation.episodes, "periods": eval_periods(exp, catalogue),
        "warmup": exp.evaluation.warmup, "worst": exp.evaluation.worst, "tuned_on": tuned,
        "bound": bound if bound is not None else {"applies": False, "why_not": "evaluation.bound is off"},
        "timings": {r["name"]: {"build_seconds": r["build_seconds"], "eval_seconds": r["eval_seconds"]}
                    for r in results},
        "train_skus": {r["name"]: r["params"]["train_skus"] for r in results if "train_skus" in r["params"]},
        "seconds": seconds, "base_dir": base_dir,  # where the config's relative paths start (for export)
    }  # fmt: skip
    for r in results:  # each policy's parameters (per-SKU levels, prices, the network), for export
        write_json(root / "policies" / f"{r['name']}.json", {"kind": r["kind"], "params": r["params"]})
    write_json(root / "catalogue_run.json", meta)


def _jsonable(value: Any) -> Any:
    """Numpy scalars and arrays as Python numbers and lists, recursively; non-finite floats as None."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        return float(value) if np.isfinite(value) else None
    return value


def validate_catalogue(path: Path, overrides: list[str] | None = None) -> str:
    """Check a catalogue config as ``stocklab run`` would before any work (build the catalogue); a one-line verdict."""
    from stocklab.experiments.config import apply_override, read_yaml

    data = read_yaml(Path(path))
    for assignment in overrides or []:
        apply_override(data, assignment)
    exp = parse_catalogue_experiment(data)
    catalogue = catalogue_of(exp, str(Path(path).resolve().parent))
    limits = "no shared limits" if catalogue.shared is None else "shared " + ", ".join(
        k for k in ("capacity", "budget") if getattr(catalogue.shared, k) is not None)  # fmt: skip
    return (
        f"{path}: ok ({exp.name}, catalogue of {catalogue.size} SKUs, {limits}, {len(exp.policies)} policies)"
    )
