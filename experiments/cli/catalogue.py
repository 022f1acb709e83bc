"""CLI commands: `stocklab catalogue synth` (a synthetic catalogue) and `stocklab bench scaleout` (Ray)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from stocklab.experiments.cli.common import JsonOpt, fail, print_json
from stocklab.experiments.cli.common import out as console

catalogue_app = typer.Typer(no_args_is_help=True, help="Catalogues of many SKUs (synthetic sales).")


@catalogue_app.command()
def synth(
    skus: Annotated[int, typer.Option("--skus", help="Number of SKUs (1 .. 10,000,000).")],
    out: Annotated[Path, typer.Option("--out", help="Output file: .csv or .parquet (date, sku, quantity).")],
    seed: Annotated[int, typer.Option("--seed", help="Seed: the same seed gives the same file.")] = 0,
    days: Annotated[int, typer.Option("--days", help="Days of sales per SKU.")] = 730,
    start: Annotated[str, typer.Option("--start", help="First date (YYYY-MM-DD).")] = "2024-01-01",
    as_json: JsonOpt = False,
) -> None:
    """Write realistic daily sales of SKUS SKUs (a synthetic catalogue).

    Smooth, erratic, intermittent and lumpy demand with weekly and yearly seasonality, trends, promotions, launches and phase-outs (see
    stocklab.envs.sales.synth). Load it with any command that takes a sales history.
    """
    import pandas as pd

    from stocklab.envs.core.errors import ConfigError, StocklabError
    from stocklab.envs.core.storage import check_output_file
    from stocklab.envs.sales.synth import check_args, write_catalogue

    try:
        check_args(skus, days)
        try:
            first = pd.Timestamp(start)
        except ValueError:
            raise ConfigError(f"--start {start!r}: not a date; give YYYY-MM-DD") from None
        if seed < 0:
            raise ConfigError(f"--seed {seed}: must be >= 0")
        check_output_file(out, "--out")
        t0 = time.perf_counter()
        rows = write_catalogue(out, skus, seed, days, first.strftime("%Y-%m-%d"))
    except StocklabError as exc:
        fail(exc)
    figures = {"out": str(out), "skus": skus, "days": days, "rows": rows, "seed": seed,
               "seconds": round(time.perf_counter() - t0, 3)}  # fmt: skip
    if as_json:
        print_json(figures)
    else:
        console.print(f"wrote {rows:,} rows ({skus:,} SKUs x {days} days) to {out} in {figures['seconds']} s")


def bench_scaleout(
    units: Annotated[int, typer.Option(min=1, help="Empty units per overhead round.")] = 100,
    repeats: Annotated[
        int, typer.Option(min=0, help="Interleaved overhead rounds, medians reported (0: skip).")
    ] = 5,
    skus: Annotated[int, typer.Option(min=0, help="SKUs of the catalogue run (0: skip it).")] = 10_000,
    days: Annotated[int, typer.Option(min=1, help="Days each SKU is simulated.")] = 365,
    shard: Annotated[int, typer.Option(min=1, help="SKUs per Ray task.")] = 1000,
    cpus: Annotated[int, typer.Option(min=1, help="CPUs of the local Ray cluster and the process pool.")] = 2,
    sweep_runs: Annotated[
        int, typer.Option(min=0, help="PPO runs of the 1-vs-2-worker sweep timing (0: skip it).")
    ] = 0,
    sweep_steps: Annotated[
        int, typer.Option(min=1000, help="Env steps of each PPO run of the sweep.")
    ] = 30_000,
    sweep_repeats: Annotated[int, typer.Option(min=1, help="Alternating rounds of the sweep timing.")] = 1,
    as_json: JsonOpt = False,
) -> None:
    """Per-unit overhead of Ray vs the process pool, and a synthetic catalogue sharded into Ray tasks.

    With `--sweep-runs 8`, also the speed-up from 1 to 2 Ray workers on a sweep of 8 PPO trainings
    (medians of `--sweep-repeats` alternating rounds, each on a fresh local cluster).
    """
    from stocklab.envs.core.errors import StocklabError
    from stocklab.experiments.bench import scaleout

    try:
        result = {}
        if repeats:
            result["overhead"] = scaleout.overhead(units, repeats, cpus)
        if skus:
            result["catalogue"] = scaleout.catalogue(skus, days, shard, cpus=cpus)
        if sweep_runs:
            result["sweep"] = scaleout.sweep_speedup(sweep_runs, sweep_steps, sweep_repeats)
    except StocklabError as exc:
        fail(exc)
    if as_json:
        print_json(result)
        return
    for name, figures in result.items():
        console.print(
            f"[bold]{name}[/]: "
            + ", ".join(f"{k} {v}" for k, v in figures.items() if k not in ("rounds_ms", "rounds_seconds"))
        )


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add the ``catalogue`` group to the ``stocklab`` app, and ``bench scaleout``."""
    app.add_typer(catalogue_app, name="catalogue")
    bench_app.command("scaleout")(bench_scaleout)
