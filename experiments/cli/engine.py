"""CLI command: `stocklab bench engine` (throughput of the batched engine, and PPO on it)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from stocklab.experiments.cli.common import JsonOpt, fail, out, print_json


def _sizes(text: str) -> tuple[int, ...]:
    from stocklab.envs.core.errors import ConfigError

    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise ConfigError(f"--sizes: {text!r} is not a comma-separated list of whole numbers") from None
    if not sizes or min(sizes) < 1:
        raise ConfigError(f"--sizes: {text!r}: give batch sizes >= 1, e.g. 1,64,1024,16384")
    return sizes


def bench_engine(
    repeats: Annotated[
        int, typer.Option(min=1, help="Interleaved runs per figure; medians are reported.")
    ] = 5,
    sizes: Annotated[str, typer.Option(help="Comma-separated batch sizes B.")] = "1,64,1024,16384",
    work: Annotated[int, typer.Option(min=1000, help="SKU-periods per measurement (about).")] = 2_000_000,
    ppo_steps: Annotated[
        int, typer.Option(min=0, help="PPO env steps per run of the PPO comparison (0: skip it).")
    ] = 32_768,
    ppo_envs: Annotated[
        str, typer.Option(help="Comma-separated env counts of the PPO comparison.")
    ] = "8,256",
    as_json: JsonOpt = False,
) -> None:
    """Throughput of the batched engine beside the SimPy engine and a bare NumPy loop, and PPO on it.

    SKU-periods/s at several batch sizes under base-stock (Poisson 5, L 2, lost sales); then PPO env
    steps/s on DummyVecEnv vs the batched adapter, with the split of its wall time.
    """
    from stocklab.envs.core.errors import StocklabError
    from stocklab.experiments.bench.engine import bench_engine as run_bench
    from stocklab.experiments.bench.engine import bench_ppo

    try:
        result: dict[str, Any] = run_bench(_sizes(sizes), repeats=repeats, work=work)
        if ppo_steps:
            result["ppo"] = bench_ppo(_sizes(ppo_envs), steps=ppo_steps)
    except StocklabError as exc:
        fail(exc)
    if as_json:
        print_json(result)
        return
    _print(result)


def _print(result: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"SKU-periods/s, {result['policy']}, median of {result['repeats']}")
    for col in ("B", "batched (shared)", "batched (exact)", "bare NumPy", "shared / bare", "exact reset s"):
        table.add_column(col, justify="right")
    for b, r in result["sizes"].items():
        table.add_row(
            b, f"{r['batched_shared']:,.0f}", f"{r['batched_exact']:,.0f}", f"{r['bare']:,.0f}",
            f"{r['shared_vs_bare']:.0%}", f"{r['reset_exact_s']:.3f}",
        )  # fmt: skip
    out.print(table)
    out.print(f"SimPy engine (one stocking point): {result['simpy']['sku_periods_per_s']:,.0f} periods/s")
    if "ppo" in result:
        ppo = Table(title="PPO training: env steps/s and where the wall time goes (%)")
        for col in ("vec env", "envs", "steps/s", "env", "wrappers", "rollout loop", "updates", "other"):
            ppo.add_column(col, justify="right")
        for r in result["ppo"]:
            ppo.add_row(
                r["vec_env"], str(r["n_envs"]), f"{r['steps_per_s']:,.0f}", f"{r['env_pct']:.0f}",
                f"{r['wrappers_pct']:.0f}", f"{r['rollout_pct']:.0f}", f"{r['update_pct']:.0f}", f"{r['other_pct']:.0f}",
            )  # fmt: skip
        out.print(ppo)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add this module's commands to the ``stocklab`` app (its ``bench`` group)."""
    bench_app.command("engine")(bench_engine)
