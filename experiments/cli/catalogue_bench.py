"""CLI command: `stocklab bench catalogue` (catalogue evaluation throughput)."""

from __future__ import annotations

from typing import Annotated

import typer

from stocklab.experiments.cli.common import JsonOpt, fail, out, print_json


def bench_catalogue(
    skus: Annotated[int, typer.Option(min=1, max=1_000_000, help="SKUs in the synthetic catalogue.")] = 1000,
    periods: Annotated[int, typer.Option(min=1, help="Periods per run.")] = 500,
    repeats: Annotated[int, typer.Option(min=1, help="Runs; the median is reported.")] = 3,
    as_json: JsonOpt = False,
) -> None:
    """SKU-periods/s of a catalogue evaluation (per-SKU base-stock under a binding shared capacity)."""
    from stocklab.envs.core.errors import StocklabError
    from stocklab.experiments.bench.catalogue import bench_catalogue as run_bench

    try:
        result = run_bench(skus, periods, repeats)
    except StocklabError as exc:
        fail(exc)
    if as_json:
        print_json(result)
        return
    out.print(
        f"{result['skus']} SKUs x {result['periods']} periods, {result['policy']} ({result['shared']}): "
        f"{result['sku_periods_per_s']:,.0f} SKU-periods/s (median of {result['repeats']})"
    )


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add this module's commands to the ``stocklab`` app (and its ``bench`` group)."""
    bench_app.command("catalogue")(bench_catalogue)
