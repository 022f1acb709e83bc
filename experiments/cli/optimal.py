"""CLI commands: `stocklab optimal` (exact DP optimum)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stocklab.experiments.cli.common import fail, out, print_json


def optimal(
    config: Annotated[Path, typer.Argument(help="Experiment config (YAML); its env section is used.")],
    tol: Annotated[
        float, typer.Option(min=0.0, help="Stop when the optimal cost is known within TOL per period.")
    ] = 1e-6,
    max_states: Annotated[int, typer.Option(min=1, help="Refuse instances with more DP states.")] = 500_000,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override KEY=VALUE.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Exact optimal average cost per period (dynamic programming) and the best base-stock level.

    For stationary discrete demand and a fixed lead time.
    """
    import time

    from rich.table import Table

    from stocklab.baselines.exact.solver import DPInstance, best_base_stock, solve_optimal
    from stocklab.envs.core.errors import StocklabError
    from stocklab.experiments.config import load_config

    try:
        cfg = load_config(config, set_)
        t0 = time.perf_counter()
        inst = DPInstance.from_config(cfg.env, max_states=max_states)
        sol = solve_optimal(inst, tol=tol)
        t1 = time.perf_counter()
        level, bs_cost = best_base_stock(sol.instance)
        t2 = time.perf_counter()
    except StocklabError as exc:
        fail(exc)
    final = sol.instance
    result = {
        "name": cfg.name,
        "optimal_cost": sol.cost,
        "cost_bounds": list(sol.cost_bounds),
        "base_stock": {"level": level, "cost": bs_cost, "gap_pct": 100.0 * (bs_cost / sol.cost - 1.0)},
        "states": sol.states,
        "seconds": t1 - t0,
        "base_stock_seconds": t2 - t1,
        "iterations": sol.iterations,
        "converged": sol.converged,
        "max_position": final.max_position,
        "position_bound": "proven" if final.bound_proven else "checked",
        "truncation_mass": sol.truncation_mass,
        "bound_mass": sol.bound_mass,
        "demand_tail_tol": final.tol,
    }
    if as_json:
        print_json(result)
        return
    table = Table(title=f"{cfg.name}: exact optimum (relative value iteration)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    lo, hi = sol.cost_bounds
    table.add_row("optimal average cost / period", f"{sol.cost:.4f}  (bounds {lo:.6f} .. {hi:.6f})")
    table.add_row("best base-stock level S", f"{level}")
    table.add_row("  its average cost / period", f"{bs_cost:.4f}  (+{result['base_stock']['gap_pct']:.2f}%)")
    table.add_row("states", f"{sol.states:,}")
    table.add_row("solve time", f"{t1 - t0:.2f} s ({sol.iterations} iterations)")
    table.add_row("base-stock search time", f"{t2 - t1:.2f} s")
    table.add_row("position bound", f"{final.max_position} ({result['position_bound']})")
    out.print(table)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add this module's commands to the ``stocklab`` app (and its ``bench`` group)."""
    app.command()(optimal)
