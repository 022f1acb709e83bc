"""Sweeps: a config that lists values for settings runs once per combination, compared in one table.

A config may hold a ``sweep`` section mapping setting paths to lists of values, e.g.::

    sweep:
      seed: [1, 2, 3]                 # evaluation.seed (training seeds derive from it)
      env.costs.shortage: [9, 19]
      policies.0.train.steps: [20000, 50000]

Every combination (the Cartesian product, in the order given) is one ordinary run
``<out>/<name>/runs/<name>.pNNN`` with those values set as by ``--set``, executed on the chosen
executor: on Ray the runs go to the cluster together, locally one after another (each with ``--jobs``
processes). Runs that differ only in their seed are replicates of one *setting*; the comparison
``sweep.csv`` / ``sweep.json`` gives, per setting and policy, the mean cost per period and its 95%
Student-t CI over the seed replicates (over the episodes when the setting has a single seed),
cheapest first. Re-running resumes: finished units of every run are reused. A point's own report is
not built (it would cost more than a small run); ``stocklab report <out>/<name>/runs/<point>`` builds it.
"""

from __future__ import annotations

import copy
import itertools
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from stocklab.envs.core.errors import ConfigError
from stocklab.envs.core.storage import check_output_dir
from stocklab.experiments.analysis.kpis import mean_ci
from stocklab.experiments.config import ExperimentConfig, apply_override, parse_config, read_yaml
from stocklab.experiments.run.plan import make_plan
from stocklab.experiments.run.progress import ProgressBoard
from stocklab.experiments.run.runner import RunOptions, run_experiment
from stocklab.experiments.store import write_csv, write_json

#: Keys that name the seed of a run (replicates, not settings).
SEED_KEYS = ("seed", "evaluation.seed")
#: Progress-board key of the sweep's bar.
KEY = ("sweep", "")
#: Most runs one sweep may expand to.
MAX_POINTS = 10_000


@dataclass(frozen=True)
class Point:
    """One run of a sweep: its name and the values it sets (``key -> value``)."""

    name: str
    values: dict[str, Any]

    @property
    def setting(self) -> str:
        """The values that are not seeds, as ``key=value`` pairs (the replicates' common label)."""
        parts = [f"{k}={v}" for k, v in self.values.items() if k not in SEED_KEYS]
        return ", ".join(parts) or "(base)"


def has_sweep(path: Path) -> bool:
    """Whether the config file at ``path`` has a ``sweep`` section."""
    return "sweep" in read_yaml(Path(path))


def _grid(sweep: Any) -> dict[str, list[Any]]:
    if not isinstance(sweep, dict) or not sweep:
        raise ConfigError("sweep: expected a mapping of setting -> list of values, e.g. {seed: [1, 2, 3]}")
    for key, values in sweep.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"sweep.{key}: expected a non-empty list of values, got {values!r}")
    return {str(k): v for k, v in sweep.items()}


def expand(data: dict[str, Any], base_dir: str) -> list[tuple[Point, ExperimentConfig]]:
    """Every combination of a raw config's ``sweep`` values, each validated as a config of its own.

    ConfigError names the sweep key, or the point and the key path its config fails on.
    """
    data = copy.deepcopy(data)
    grid = _grid(data.pop("sweep"))
    name = str(data.get("name", "experiment"))
    combos = list(itertools.product(*grid.values()))
    if len(combos) > MAX_POINTS:
        raise ConfigError(f"sweep: {len(combos)} combinations; at most {MAX_POINTS} are allowed")
    points = []
    for i, combo in enumerate(combos):
        values = dict(zip(grid, combo))
        point = Point(f"{name}.p{i:03d}", values)
        raw = copy.deepcopy(data)
        for key, value in values.items():
            path = "evaluation.seed" if key == "seed" else key
            _set(raw, path, value)
        raw["name"] = point.name
        try:
            cfg = parse_config(raw, base_dir=base_dir)
        except ConfigError as exc:
            raise ConfigError(f"sweep point {point.setting or point.name} ({values}): {exc}") from None
        points.append((point, cfg))
    return points


def _set(raw: dict[str, Any], path: str, value: Any) -> None:
    """Set ``path`` (dotted) to ``value`` as ``--set`` does, naming the sweep key on error."""
    import yaml

    try:
        apply_override(raw, f"{path}={yaml.safe_dump(value, default_flow_style=True).strip()}")
    except ConfigError as exc:
        raise ConfigError(f"sweep.{path}: {exc}") from None


def check_sweep(
    config: Path, overrides: list[str] | None
) -> tuple[str, list[tuple[Point, ExperimentConfig]]]:
    """The sweep's name and points, after every check `run` makes before work (`validate` calls it too)."""
    data = read_yaml(Path(config))
    for assignment in overrides or []:
        apply_override(data, assignment)
    points = expand(data, str(Path(config).parent))
    for _, cfg in points:
        make_plan(cfg)
    return str(data.get("name", "experiment")), points


def run_sweep(config: Path, overrides: list[str] | None, opts: RunOptions) -> tuple[Path, pd.DataFrame]:
    """Run every point of the sweep in ``config``; write and return the comparison (best first)."""
    name, points = check_sweep(config, overrides)  # every point's checks before any work
    root = check_output_dir(Path(opts.out) / name, "--out")
    sub = replace(opts, out=root / "runs", progress=False, report=False)
    with ProgressBoard(enabled=opts.progress) as board:  # one bar: runs finished of the sweep's
        board.add(KEY, f"sweep {root.name}", len(points))
        folders = _execute(points, sub, opts.executor, board)
    table = compare(points, folders)
    write_csv(root / "sweep.csv", table)
    write_json(
        root / "sweep.json",
        {"points": [{"run": p.name, "values": p.values, "setting": p.setting} for p, _ in points],
         "comparison": table.to_dict(orient="records")},
    )  # fmt: skip
    return root, table


def _execute(
    points: list[tuple[Point, ExperimentConfig]], opts: RunOptions, executor: str, board: ProgressBoard
) -> list[Path]:
    """Run the points: together on Ray (the cluster schedules their units), else one after another."""
    if executor != "ray":
        folders = []
        for _, cfg in points:
            folders.append(run_experiment(cfg, opts))
            board.update(KEY, 1, None, tick=True)
        return folders
    from stocklab.experiments.run.ray_executor import CANCELLED, cancel_all, connect

    connect(opts.address, opts.cpus)
    CANCELLED.clear()
    with ThreadPoolExecutor(max_workers=min(len(points), 64)) as pool:
        futures = [pool.submit(run_experiment, cfg, opts) for _, cfg in points]
        try:
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
                for fut in done:
                    fut.result()  # the first failure, re-raised here
                    board.update(KEY, 1, None, tick=True)
        except BaseException:
            cancel_all()
            raise
    return [f.result() for f in futures]


def compare(points: list[tuple[Point, ExperimentConfig]], folders: list[Path]) -> pd.DataFrame:
    """Mean cost per period and its 95% CI per setting and policy, cheapest first (module docstring)."""
    per_run = []
    for (point, _), folder in zip(points, folders):
        episodes = pd.read_csv(folder / "episodes.csv")
        for policy, costs in episodes.groupby("policy", sort=False)["avg_cost"]:
            per_run.append({"setting": point.setting, "policy": policy, "run": point.name,
                            "costs": costs.to_numpy()})  # fmt: skip
    rows = []
    frame = pd.DataFrame(per_run)
    for (setting, policy), group in frame.groupby(["setting", "policy"], sort=False):
        if len(group) >= 2:  # seed replicates: one mean per run
            mean, half = mean_ci([c.mean() for c in group["costs"]])
            basis = f"{len(group)} seeds"
        else:
            mean, half = mean_ci(group["costs"].iloc[0])
            basis = f"{len(group['costs'].iloc[0])} episodes"
        rows.append({"setting": setting, "policy": policy, "mean_cost": mean, "ci95": half,
                     "ci_over": basis, "runs": ", ".join(group["run"])})  # fmt: skip
    table = pd.DataFrame(rows).sort_values("mean_cost", kind="stable").reset_index(drop=True)
    table.insert(0, "rank", range(1, len(table) + 1))
    return table
