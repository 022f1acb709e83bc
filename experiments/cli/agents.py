"""CLI command: `stocklab bench optimality` (learned policies against the exact optimum)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from stocklab.experiments.cli.common import err, fail, out, print_json


def bench_optimality(
    agents: Annotated[str, typer.Option(help="Comma-separated agents.")] = "q_learning,sarsa,ppo",
    instances: Annotated[
        str,
        typer.Option(help="'all' (the 16 Zipkin instances) or names like p9L2,p39L3 (L1, L2: p9L1, p9L2)."),
    ] = "L1,L2",
    minutes: Annotated[
        float,
        typer.Option(min=0.01, help="Wall minutes per agent and instance (SB3 agents train this long)."),
    ] = 15.0,
    steps: Annotated[
        int, typer.Option(min=1, help="Env steps of tabular agents (within --minutes).")
    ] = 5_000_000,
    sb3_steps: Annotated[
        int | None, typer.Option(min=1, help="Env-step cap of SB3 agents (default: --minutes alone).")
    ] = None,
    ppo_minutes: Annotated[
        float | None, typer.Option(min=0.01, help="Old name of --minutes.", hidden=True)
    ] = None,
    jobs: Annotated[int, typer.Option(min=1, help="Instances run in parallel processes.")] = 1,
    clock: Annotated[
        str, typer.Option(help="Budget clock: wall, or cpu (the process's CPU time, for a shared machine).")
    ] = "wall",
    seed: Annotated[int, typer.Option(help="Training seed.")] = 0,
    classic: Annotated[bool, typer.Option(help="Tune base-stock and capped base-stock exactly.")] = True,
    throughput_steps: Annotated[
        int, typer.Option(min=0, help="Periods of the tabular throughput measurement (0: none).")
    ] = 0,
    progress: Annotated[bool, typer.Option(help="Progress bar (only on a terminal).")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Exact long-run cost of agents trained on Zipkin's lost-sales instances vs the DP optimum.

    Poisson(5) demand, h 1, p in {4, 9, 19, 39}, L in {1, 2, 3, 4}. Every policy is scored by exact
    policy evaluation; the best tuned base-stock and capped base-stock policies are in the same table.
    """
    from stocklab.envs.core.errors import StocklabError
    from stocklab.experiments.bench.optimality import run_optimality, summarise
    from stocklab.experiments.bench.zipkin import parse_instances

    try:
        names = parse_instances(instances)
        with _instance_progress(len(names), progress) as done:
            records = run_optimality(
                [a.strip() for a in agents.split(",") if a.strip()], steps=steps, minutes=ppo_minutes or minutes,
                instances=names, seed=seed, throughput_steps=throughput_steps, jobs=jobs, classic=classic,
                clock=clock, on_done=done, sb3_steps=sb3_steps,
            )  # fmt: skip
    except StocklabError as exc:
        fail(exc)
    summary = summarise(records)
    if as_json:
        budget = {
            "minutes": ppo_minutes or minutes,
            "tabular_steps": steps,
            "sb3_steps": sb3_steps,
            "jobs": jobs,
            "seed": seed,
            "clock": clock,
        }
        print_json({"instances": names, "budget": budget, "records": records, "summary": summary})
        return
    _print_optimality(records, summary)


@contextmanager
def _instance_progress(total: int, show: bool) -> Iterator[Callable[[str], None]]:
    """A rich progress bar over instances on stderr (only on a terminal); yields ``done(instance)``."""
    import sys

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    if not (show and sys.stderr.isatty()):
        yield lambda _name: None
        return
    bar = Progress(TextColumn("instances"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TimeRemainingColumn(), transient=True, console=err)  # fmt: skip
    with bar:
        task = bar.add_task("bench", total=total)
        yield lambda _name: bar.advance(task)


def _print_optimality(records: list[dict[str, Any]], summary: list[dict[str, Any]]) -> None:
    """The records as a table, then the per-instance verdict (learned vs classic)."""
    from rich.table import Table

    table = Table(title="Optimality gap (exact policy evaluation vs DP optimum, cost per period)")
    for col in ("instance", "policy", "optimal", "cost", "gap %", "budget", "env steps", "seconds"):
        table.add_column(col, justify="left" if col in ("instance", "policy", "budget") else "right")
    for r in records:
        if r["family"] == "classic":
            budget, steps = "exact tuning " + ", ".join(f"{k} {v}" for k, v in r["params"].items()), "-"
        else:
            b = r["budget"]
            budget = f"{b['minutes']:g} {b['clock']} min" + (f", {b['steps']:,} steps" if b["steps"] else "")
            steps = f"{r['steps']:,}"
        table.add_row(
            r["instance"], r["agent"], f"{r['optimal_cost']:.4f}", f"{r['cost']:.4f}", f"{r['gap_pct']:.2f}",
            budget, steps, f"{r['seconds']:.0f}",
        )  # fmt: skip
    out.print(table)
    for s in summary:
        if s["best_learned"] and s["best_classic"]:
            verdict = "beats" if s["learned_beats_classic"] else "does not beat"
            out.print(
                f"{s['instance']}: best learned {s['best_learned']} ({s['best_learned_gap_pct']:.2f}%) {verdict} "
                f"best classic {s['best_classic']} ({s['best_classic_gap_pct']:.2f}%)"
            )
    for r in (r for r in records if "loop_steps_per_s" in r):
        out.print(
            f"{r['agent']} {r['instance']} throughput: training {r['steps_per_s']:,.0f} steps/s; "
            f"env.step alone {r['env_steps_per_s']:,.0f}/s; learning loop alone {r['loop_steps_per_s']:,.0f}/s"
        )


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add this module's commands to the ``stocklab`` app (and its ``bench`` group)."""
    bench_app.command("optimality")(bench_optimality)
