"""CLI command: `stocklab bench optimality` (learned policies against the exact optimum)."""

from __future__ import annotations

from typing import Annotated

import typer

from stocklab.experiments.cli.common import fail, out, print_json


def bench_optimality(
    agents: Annotated[str, typer.Option(help="Comma-separated agents.")] = "q_learning,sarsa,ppo",
    steps: Annotated[int, typer.Option(min=1, help="Training env steps of tabular agents.")] = 5_000_000,
    ppo_minutes: Annotated[float, typer.Option(min=0.01, help="Wall minutes of SB3 training.")] = 20.0,
    instances: Annotated[str, typer.Option(help="Comma-separated instances: L1, L2.")] = "L1,L2",
    seed: Annotated[int, typer.Option(help="Training seed.")] = 0,
    throughput_steps: Annotated[
        int, typer.Option(min=1000, help="Periods of the tabular throughput measurement.")
    ] = 100_000,
    progress: Annotated[bool, typer.Option(help="Progress bars (only on a terminal).")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Exact long-run cost of agents trained on Zipkin's lost-sales instances vs the DP optimum.

    The instances: Poisson 5, h 1, p 9, L 1 and 2.
    """
    from rich.table import Table

    from stocklab.envs.core.errors import StocklabError
    from stocklab.experiments.bench.optimality import run_optimality

    try:
        records = run_optimality(
            [a.strip() for a in agents.split(",") if a.strip()], steps=steps, ppo_minutes=ppo_minutes,
            instances=[i.strip() for i in instances.split(",") if i.strip()], seed=seed, progress_bar=progress,
            throughput_steps=throughput_steps,
        )  # fmt: skip
    except StocklabError as exc:
        fail(exc)
    if as_json:
        print_json(records)
        return
    table = Table(title="Optimality gap (exact policy evaluation vs DP optimum, cost per period)")
    for col in ("agent", "instance", "optimal", "cost", "gap %", "env steps", "seconds", "steps/s"):
        table.add_column(col, justify="left" if col in ("agent", "instance") else "right")
    for r in records:
        table.add_row(
            r["agent"], r["instance"], f"{r['optimal_cost']:.4f}", f"{r['cost']:.4f}", f"{r['gap_pct']:.2f}",
            f"{r['steps']:,}", f"{r['seconds']:.0f}", f"{r['steps'] / max(r['seconds'], 1e-9):,.0f}",
        )  # fmt: skip
    out.print(table)
    loops = [r for r in records if "loop_steps_per_s" in r]
    for r in loops:
        out.print(
            f"{r['agent']} {r['instance']} throughput: training {r['steps_per_s']:,.0f} steps/s; "
            f"env.step alone {r['env_steps_per_s']:,.0f}/s; learning loop alone {r['loop_steps_per_s']:,.0f}/s"
        )


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add this module's commands to the ``stocklab`` app (and its ``bench`` group)."""
    bench_app.command("optimality")(bench_optimality)
