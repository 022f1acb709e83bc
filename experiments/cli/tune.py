"""CLI commands: `stocklab tune` (classic policy tuning)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stocklab.experiments.cli.common import err, fail, out, print_json


def tune(
    config: Annotated[Path, typer.Argument(help="Experiment config (YAML); its env section is used.")],
    policy: Annotated[
        str, typer.Option("--policy", help="Policy to tune: base_stock | ss | rq | capped_base_stock.")
    ] = "base_stock",
    episodes: Annotated[int, typer.Option(min=1, help="Episodes per candidate (simulation search).")] = 10,
    periods: Annotated[
        int | None, typer.Option(min=1, help="Periods per episode (default: env.periods).")
    ] = None,
    warmup: Annotated[int, typer.Option(min=0, help="Periods dropped at the start of each episode.")] = 100,
    seed: Annotated[int, typer.Option(help="Base seed of the episodes (common to all candidates).")] = 0,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override KEY=VALUE.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Best parameters of a classic policy: exact where possible, else simulated.

    Exact: the critical fractile, Zheng-Federgruen, or a grid search scored by exact DP evaluation
    (within a time budget that each evaluation checks as it goes); else a grid search by simulation
    on common random numbers.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from stocklab.baselines.tuning.search import tune as run_tune
    from stocklab.envs.core.errors import StocklabError
    from stocklab.experiments.config import load_config

    try:
        cfg = load_config(config, set_)
        n = periods or cfg.env.periods
        bar = Progress(
            TextColumn(f"tuning {policy}"), BarColumn(), TextColumn("{task.completed}/{task.total} candidates"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal,
        )  # fmt: skip
        with bar:
            task = bar.add_task("tune", total=None)
            result = run_tune(
                cfg.env, policy, episodes=episodes, periods=n, warmup=warmup, seed=seed,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )  # fmt: skip
    except StocklabError as exc:
        fail(exc)
    if as_json:
        print_json({"policy": policy, **result.to_dict()})
        return
    params = ", ".join(f"{k}={v}" for k, v in result.params.items())
    ci = f" ± {result.ci95:.3f} (95% CI, {episodes} x {n} periods)" if result.method == "simulation" else ""
    out.print(f"{cfg.name}: {policy} {params}")
    out.print(f"average cost / period: {result.avg_cost:.4f}{ci}")
    out.print(f"method: {result.method} ({result.algorithm}, {result.evaluations} candidate(s) scored)")


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add this module's commands to the ``stocklab`` app (and its ``bench`` group)."""
    app.command()(tune)
