"""``stocklab run``: build every policy of an experiment, evaluate all on common random numbers, report.

Resumable: a run is a set of units (the DP optimum, one build per policy, one evaluation episode per
policy and seed; see :mod:`.plan`), each written atomically with the hash of its inputs and code.
Re-running the same command skips finished units, so a run killed at any point (crash, SIGKILL,
Ctrl-C) finishes with the results an uninterrupted run gives. Units run on an executor
(:mod:`.executors`); every episode depends only on its policy and seed, so the results are the same
for any executor and number of workers.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stocklab.envs.core.errors import ConfigError
from stocklab.envs.core.storage import check_output_dir
from stocklab.experiments.config import ExperimentConfig
from stocklab.experiments.kinds import REGISTRY
from stocklab.experiments.run import units
from stocklab.experiments.run.executors import LocalExecutor
from stocklab.experiments.run.manifest import finish, new_manifest, resume_manifest
from stocklab.experiments.run.plan import Plan, PolicyUnit, make_plan
from stocklab.experiments.run.progress import ProgressBoard
from stocklab.experiments.store import (
    RunFolder,
    episodes_frame,
    read_json,
    read_unit,
    write_csv,
    write_json,
    write_text,
)


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
    """Write the config beside the results, as given and as resolved.

    ``config.yaml``: the config as run (overrides applied, data paths absolute; loadable again);
    ``config.resolved.yaml``: the same with every default filled in.
    """
    given = cfg.model_dump(mode="json", by_alias=True, exclude_unset=True)
    write_text(root / "config.yaml", yaml.safe_dump(given, sort_keys=False))
    resolved = cfg.model_dump(mode="json", by_alias=True)
    write_text(root / "config.resolved.yaml", yaml.safe_dump(resolved, sort_keys=False))


def run_experiment(cfg: ExperimentConfig, opts: RunOptions | None = None) -> Path:
    """Run (or resume) an experiment; return its folder ``<out>/<name>``."""
    opts = opts or RunOptions()
    if opts.jobs < 1:
        raise ConfigError(f"--jobs (={opts.jobs}) must be >= 1")
    start = time.perf_counter()
    root = check_run_folder(Path(opts.out), cfg.name)
    plan = make_plan(cfg)
    with RunFolder(root).lock():
        write_config(cfg, root)
        write_data_repairs(cfg, root)
        seeds = {
            "evaluation": plan.eval_seeds,
            "training": {n: u.seed for n, u in plan.units.items()},
            "evaluation_seed": cfg.evaluation.seed,
        }
        fresh = new_manifest(plan.config_hash, seeds, opts.jobs, opts.command) | {"code": plan.code}
        manifest = resume_manifest(read_json(root / "manifest.json"), fresh)
        write_json(root / "manifest.json", manifest)
        _Schedule(plan, root, opts).run()
        collect(plan, root)
        write_json(root / "manifest.json", finish(manifest, time.perf_counter() - start))
        if opts.report:
            from stocklab.experiments.analysis.report import rebuild

            rebuild(root)
    return root


def write_data_repairs(cfg: ExperimentConfig, root: Path) -> None:
    """``data_cleaning.json``: every repair cleaning made to the sales history the run's demand uses.

    Written only when the demand comes from a sales history (``history``, ``forecast_fed``), so the
    report can say what was filled, netted or capped instead of repairing data silently.
    """
    changes = getattr(cfg.env.demand, "cleaning_changes", None)
    if changes is None:
        return
    repairs = changes()
    counts: dict[str, int] = {}
    for change in repairs:
        counts[change["kind"]] = counts.get(change["kind"], 0) + 1
    demand = cfg.env.demand
    write_json(
        root / "data_cleaning.json",
        {"source": str(getattr(demand, "path", "")), "sku": str(getattr(demand, "sku", "")),
         "counts": counts, "changes": repairs},
    )  # fmt: skip


#: Files whose presence marks a folder as a stocklab run folder (written first by every run).
RUN_MARKERS = ("manifest.json", "config.yaml", ".lock")


def check_run_folder(out: Path, name: str) -> Path:
    """Check, before any work, that ``out/name`` can hold this run; return the folder.

    ConfigError (exit 2) when ``out`` is a file or cannot be written, or when ``out/name`` is a
    foreign folder: one that has files but is not a stocklab run folder. A run never writes into
    (and so never overwrites) files it did not create.
    """
    check_output_dir(out, "--out")
    root = out / name
    if root.exists() and not root.is_dir():
        raise ConfigError(f"--out {str(out)!r}: {root} is a file, not a run folder; give another --out")
    if root.is_dir() and any(root.iterdir()) and not any((root / m).exists() for m in RUN_MARKERS):
        raise ConfigError(
            f"--out {str(out)!r}: {root} holds files that no stocklab run wrote; stocklab will not write "
            "into it. Give another --out, or rename the experiment (name: ...)"
        )
    return root


class _Schedule:
    """Runs every unfinished unit of a plan, builds before their evaluations, on one executor."""

    def __init__(self, plan: Plan, root: Path, opts: RunOptions) -> None:
        self.plan, self.root, self.opts = plan, root, opts
        self.folder = RunFolder(root)
        self.board = ProgressBoard(enabled=opts.progress)
        self.executor = LocalExecutor(opts.jobs, self.board)
        self.pending: dict[Future, tuple[str, str]] = {}
        self.waiting_for_optimum = [
            n for n, u in plan.units.items() if REGISTRY.get(u.spec.kind).uses_optimum
        ]

    def run(self) -> None:
        """Submit what is unfinished and wait for all of it; Ctrl-C or a failed unit stops the rest."""
        plan = self.plan
        try:
            with self.board:
                optimum_ready = plan.optimum_hash is None or (
                    read_unit(self.folder.optimum_record, plan.optimum_hash) is not None
                )
                if not optimum_ready:
                    self.board.add(("optimum", ""), "solve DP optimum", None, 0)
                    self._submit(
                        "optimum",
                        "",
                        units.optimum_job,
                        plan.cfg,
                        self.root,
                        plan.optimum_hash,
                        plan.optimum_code,
                    )
                order = sorted(plan.units, key=lambda n: REGISTRY.get(plan.units[n].spec.kind).build_priority)
                for name in order:
                    if optimum_ready or name not in self.waiting_for_optimum:
                        self._start_build(name)  # a kind that reuses the optimum waits for it
                while self.pending:
                    for fut in self.executor.wait(list(self.pending)):
                        what, name = self.pending.pop(fut)
                        fut.result()  # re-raises a unit's error here
                        self._finished(what, name)
        except BaseException:
            self.executor.stop()
            raise
        self.executor.shutdown()

    def _submit(self, what: str, name: str, fn: Callable[..., Any], *args: Any, tick: bool = False) -> None:
        fut = self.executor.submit((what, name), fn, *args, tick=tick)
        if self.executor.inline:
            fut.result()  # re-raises the unit's error
            self._finished(what, name)
        else:
            self.pending[fut] = (what, name)

    def _finished(self, what: str, name: str) -> None:
        self.board.finish((what, name))
        if what == "optimum":
            for n in self.waiting_for_optimum:
                self._start_build(n)
        elif what == "build":
            self._start_eval(name)

    def _start_build(self, name: str) -> None:
        plan, unit = self.plan, self.plan.units[name]
        if read_unit(self.folder.policy_record(name), unit.hash) is not None:
            self.board.add(("build", name), f"build {name}", 1, 1)
            self._start_eval(name)
            return
        self.board.add(("build", name), f"build {name}", None, 0)
        self._submit("build", name, units.build_job, plan.cfg, self.root, unit, plan.eval_seeds, plan.exact)

    def _start_eval(self, name: str) -> None:
        plan, unit, n = self.plan, self.plan.units[name], len(self.plan.eval_seeds)
        todo = [
            (i, s, h)
            for i, (s, h) in enumerate(zip(plan.eval_seeds, plan.episode_hashes[name]))
            if read_unit(self.folder.episode(name, i), h) is None
        ]
        self.board.add(("eval", name), f"evaluate {name}", n, n - len(todo))
        size = max(1, math.ceil(len(todo) / self.opts.jobs))
        for k in range(0, len(todo), size):
            chunk = todo[k : k + size]
            self._submit(
                "eval", name, units.eval_job, plan.cfg, self.root, unit, chunk, plan.episode_code, tick=True
            )


def collect(plan: Plan, root: Path) -> Path:
    """Gather every episode record into ``episodes.csv`` (config order of policies, then episodes)."""
    paths, rows = RunFolder(root), []
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


def load_run_policy(run_dir: Path, name: str) -> tuple[Any, Any, Any]:
    """The built policy ``name`` of a run folder, the env config it acts in, and its kind.

    The policy is the one the run's evaluation used (for ``stocklab export``). DataError when the
    folder or the policy's build is missing.
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
    record = read_json(RunFolder(run_dir).policy_record(name))
    if not record or record.get("kind") != spec.kind:
        raise DataError(
            f"{run_dir}: policy {name!r} was not built yet; run `stocklab run` on its config first"
        )
    unit = PolicyUnit(spec, int(record["seed"]), record["hash"])
    return units.load_policy(cfg, run_dir, unit), cfg.env, REGISTRY.get(spec.kind)
