"""CLI commands: `stocklab validate`, `stocklab simulate` and `stocklab bench throughput`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from stocklab.envs.core.errors import ConfigError, StocklabError
from stocklab.experiments.cli.common import JsonOpt, fail, out, print_json


def validate(
    config: Annotated[Path, typer.Argument(help="Experiment config (YAML).")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override KEY=VALUE.")] = None,
) -> None:
    """Check a config as `stocklab run` would, and report the first error with its key path.

    Runs every check that `stocklab run` makes before any work (the same function), including the
    policies' deep checks (SB3 hyper-parameters against the algorithm's constructor).
    """
    from stocklab.experiments.config import load_config, read_yaml
    from stocklab.experiments.run.plan import preflight

    try:
        data = read_yaml(config)
        if "catalogue" in data:
            from stocklab.experiments.run.catalogue.runner import validate_catalogue

            out.print(validate_catalogue(config, set_), soft_wrap=True)
            return
        if "sweep" in data:
            from stocklab.experiments.run.sweep import check_sweep

            name, points = check_sweep(config, set_)
            policies = len(points[0][1].policies)
            out.print(
                f"{config}: ok (sweep {name}: {len(points)} runs of {policies} policies)", soft_wrap=True
            )
            return
        cfg = load_config(config, set_)
        exact = preflight(cfg)
    except StocklabError as exc:
        fail(exc)
    gaps = "exact gaps to the DP optimum" if exact else "no DP optimum for this env"
    out.print(f"{config}: ok ({cfg.name}, {len(cfg.policies)} policies, {gaps})", soft_wrap=True)


def simulate(
    config: Annotated[Path, typer.Argument(help="Experiment config (YAML); its env section is used.")],
    order_up_to: Annotated[int | None, typer.Option(help="Base-stock level S (units).")] = None,
    order: Annotated[int | None, typer.Option(help="Constant order quantity Q (units per period).")] = None,
    episodes: Annotated[int, typer.Option(min=1, help="Episodes (independent seeds).")] = 10,
    periods: Annotated[
        int | None, typer.Option(min=1, help="Periods per episode (default: env.periods).")
    ] = None,
    warmup: Annotated[int, typer.Option(min=0, help="Periods dropped at the start of each episode.")] = 0,
    seed: Annotated[int, typer.Option(help="Base seed of the episodes.")] = 0,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override KEY=VALUE.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """What-if simulation of a fixed policy: average cost per period (95% CI), components, fill rate."""
    from stocklab.baselines import BaseStock, ConstantOrder
    from stocklab.envs.core.obs import ObsSpec
    from stocklab.envs.core.policy import ActionMap
    from stocklab.envs.core.seeding import episode_seeds
    from stocklab.experiments.analysis.evaluate import episode_row, evaluate
    from stocklab.experiments.analysis.stats import summarize_policies
    from stocklab.experiments.config import load_config
    from stocklab.experiments.store import episodes_frame

    try:
        if (order_up_to is None) == (order is None):
            raise ConfigError("simulate: give exactly one of --order-up-to S or --order Q")
        cfg = load_config(config, set_)
        env_cfg = cfg.env
        spec, amap = ObsSpec.for_config(env_cfg), ActionMap.for_config(env_cfg)
        if order_up_to is not None:
            policy = BaseStock(spec, amap, order_up_to)
        else:
            policy = ConstantOrder(spec, amap, order)  # type: ignore[arg-type]
        n = periods or env_cfg.periods
        seeds = episode_seeds(seed, episodes)
        stats = evaluate(env_cfg, policy, seeds, n, warmup)
    except StocklabError as exc:
        fail(exc)
    rows = [episode_row(policy.name, policy.name, i, s, st) for i, (s, st) in enumerate(zip(seeds, stats))]
    (row,) = summarize_policies(episodes_frame(rows), {policy.name: policy.name}).values()
    summary = {"policy": policy.name, "params": policy.params(), "periods": n, **row}
    if as_json:
        print_json(summary)
        return
    table = Table(title=f"{cfg.name}: {policy.name} {policy.params()} — {episodes} x {n} periods")
    table.add_column("KPI")
    table.add_column("value", justify="right")
    table.add_row("average cost / period", f"{summary['avg_cost']:.3f} ± {summary['ci95']:.3f} (95% CI)")
    for key in ("holding_cost", "shortage_cost", "fixed_cost", "unit_cost"):
        table.add_row(f"  {key.replace('_', ' ')}", f"{summary[key]:.3f}")
    table.add_row("fill rate", f"{summary['fill_rate']:.4f}")
    table.add_row("cycle service level", f"{summary['cycle_service_level']:.4f}")
    table.add_row("average on hand", f"{summary['avg_on_hand']:.2f}")
    table.add_row("average backlog", f"{summary['avg_backlog']:.2f}")
    table.add_row("order frequency", f"{summary['order_frequency']:.3f}")
    out.print(table)


def bench_throughput(
    steps: Annotated[int, typer.Option(min=100, help="env.step() calls per run.")] = 20000,
    repeats: Annotated[int, typer.Option(min=1, help="Runs per mode; the median is reported.")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """env.step() per second with per-period events, per-customer events and a plain-Python loop.

    On Poisson(5) demand, L = 2, lost sales; the plain-Python reference loop runs the same dynamics.
    """
    from stocklab.experiments.bench.throughput import throughput

    result = throughput(steps=steps, repeats=repeats)
    if as_json:
        print_json(result)
        return
    table = Table(title=f"env.step() throughput (median of {repeats} x {steps} steps)")
    table.add_column("mode")
    table.add_column("steps/s", justify="right")
    for mode, r in result.items():
        table.add_row(mode, f"{r['steps_per_s']:,.0f}")
    out.print(table)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add this module's commands to the ``stocklab`` app (and its ``bench`` group)."""
    app.command()(validate)
    app.command()(simulate)
    bench_app.command("throughput")(bench_throughput)
