"""CLI commands: `stocklab optimal` (exact DP optimum)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stocklab.experiments.cli.common import err, fail, out, print_json

if TYPE_CHECKING:
    from stocklab.baselines.exact.limits import DPLimits
    from stocklab.envs.core.errors import StocklabError
    from stocklab.experiments.config import ExperimentConfig


def optimal(
    config: Annotated[Path, typer.Argument(help="Experiment config (YAML); its env section is used.")],
    tol: Annotated[
        float, typer.Option(min=0.0, help="Stop when the optimal cost is known within TOL per period.")
    ] = 1e-6,
    max_states: Annotated[
        int | None,
        typer.Option(min=1, help="Refuse instances with more DP states (default 500,000, or the config's)."),
    ] = None,
    max_memory: Annotated[
        float | None,
        typer.Option(
            min=0.001,
            help="Refuse instances whose estimated peak memory exceeds this many GiB (default: half the "
            "memory available now, or the config's max_memory_gib).",
        ),
    ] = None,
    time_limit: Annotated[
        float | None, typer.Option(min=0.001, help="Stop after this many seconds (default: no limit).")
    ] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override KEY=VALUE.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Exact optimal average cost per period (dynamic programming) and the best base-stock level.

    For stationary discrete demand and a fixed lead time. The state space is counted and its memory
    estimated before anything is allocated: an instance over the limits is refused at once with the
    estimate. The limits come from the options, else from the params of the config's optimal policy
    (max_states, max_memory_gib, time_limit), else the defaults.
    """
    from stocklab.envs.core.errors import StocklabError
    from stocklab.experiments.config import load_config

    try:
        # The env section is all this command uses; the policies' checks (the optimal entry's own DP
        # check with its limits among them) would refuse before the options below are applied.
        cfg = load_config(config, set_, check=False)
        limits = _limits(cfg, max_states, max_memory, time_limit)
        result = _solve(cfg, limits, tol)
    except StocklabError as exc:
        fail(_with_hint(exc))
    if as_json:
        print_json(result)
    else:
        _print_table(cfg.name, result)


def _limits(
    cfg: ExperimentConfig, max_states: int | None, max_memory: float | None, time_limit: float | None
) -> DPLimits:
    """The DP limits: the options where given, else the config optimal entry's params, else defaults."""
    from stocklab.baselines.exact.tables import limits_of
    from stocklab.envs.core.errors import ConfigError

    entry = next((p for p in cfg.policies if p.kind == "optimal"), None)
    params = dict(entry.params) if entry is not None else {}
    options = {"max_states": max_states, "max_memory_gib": max_memory, "time_limit": time_limit}
    params.update({k: v for k, v in options.items() if v is not None})
    try:
        return limits_of(params)
    except ConfigError as exc:
        raise ConfigError(f"policies ({entry.name if entry else 'optimal'}).params: {exc}") from None


def _solve(cfg: ExperimentConfig, limits: DPLimits, tol: float) -> dict[str, Any]:
    """Solve the DP within ``limits`` (with a progress bar), then find the best base-stock level."""
    import time

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from stocklab.baselines.exact.solver import DPInstance, best_base_stock, solve_optimal

    t0 = time.perf_counter()
    inst = DPInstance.from_config(cfg.env, max_states=limits.max_states, max_bytes=limits.max_bytes)
    deadline = limits.deadline()
    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal,
    )  # fmt: skip
    with bar:
        # progress of value iteration: log10 of the span of T V - V, from its first value down to tol
        task = bar.add_task(f"value iteration ({inst.n_states:,} states)", total=None)
        sol = solve_optimal(
            inst, tol=tol, deadline=deadline,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )  # fmt: skip
        bar.reset(task, description="best base-stock level", total=None)
        t1 = time.perf_counter()
        level, bs_cost = best_base_stock(sol.instance, deadline)
    t2 = time.perf_counter()
    final = sol.instance
    return {
        "name": cfg.name,
        "optimal_cost": sol.cost,
        "cost_bounds": list(sol.cost_bounds),
        "base_stock": {"level": level, "cost": bs_cost, "gap_pct": 100.0 * (bs_cost / sol.cost - 1.0)},
        "states": sol.states,
        "estimated_bytes": final.size.bytes,
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


def _with_hint(exc: StocklabError) -> StocklabError:
    """A resource-limit error with the options that raise the limits appended."""
    from stocklab.baselines.exact.limits import ResourceLimitError

    if isinstance(exc, ResourceLimitError):
        return ResourceLimitError(f"{exc} (options --max-states and --max-memory GIB)")
    return exc


def _print_table(name: str, result: dict[str, Any]) -> None:
    """The figures of :func:`_solve` as a table on stdout."""
    from rich.table import Table

    table = Table(title=f"{name}: exact optimum (relative value iteration)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    lo, hi = result["cost_bounds"]
    bs = result["base_stock"]
    table.add_row(
        "optimal average cost / period", f"{result['optimal_cost']:.4f}  (bounds {lo:.6f} .. {hi:.6f})"
    )
    table.add_row("best base-stock level S", f"{bs['level']}")
    table.add_row("  its average cost / period", f"{bs['cost']:.4f}  (+{bs['gap_pct']:.2f}%)")
    table.add_row(
        "states", f"{result['states']:,}  (estimated peak memory {result['estimated_bytes'] / 2**30:.3g} GiB)"
    )
    table.add_row("solve time", f"{result['seconds']:.2f} s ({result['iterations']} iterations)")
    table.add_row("base-stock search time", f"{result['base_stock_seconds']:.2f} s")
    table.add_row("position bound", f"{result['max_position']} ({result['position_bound']})")
    out.print(table)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add this module's commands to the ``stocklab`` app (and its ``bench`` group)."""
    app.command()(optimal)
