"""CLI command: `stocklab bench catalogue` (catalogue evaluation throughput)."""

from __future__ import annotations

from typing import Annotated

import typer

from stocklab.experiments.cli.common import JsonOpt, fail, out, print_json


def bench_catalogue(
    skus: Annotated[int, typer.Option(min=1, max=1_000_000, help="SKUs in the synthetic catalogue.")] = 1000,
    periods: Annotated[int, typer.Option(min=1, help="Periods per run.")] = 500,
    repeats: Annotated[int, typer.Option(min=1, help="Runs; the median is reported.")] = 3,
    decide: Annotated[
        bool, typer.Option("--decide/--no-decide", help="Also time one POST /decide for every SKU.")
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Catalogue SKU-periods/s (base-stock, exported shared network) and one POST /decide for all SKUs.

    The synthetic catalogue shares a binding warehouse capacity; the decision times one request
    carrying every SKU's state to `stocklab serve`.
    """
    from stocklab.envs.core.errors import StocklabError
    from stocklab.experiments.bench.catalogue import bench_catalogue as run_bench

    try:
        result = run_bench(skus, periods, repeats, decide=decide)
    except StocklabError as exc:
        fail(exc)
    if as_json:
        print_json(result)
        return
    out.print(
        f"{result['skus']} SKUs x {result['periods']} periods ({result['shared']}), median of "
        f"{result['repeats']}: per-SKU base-stock {result['sku_periods_per_s']:,.0f} SKU-periods/s; exported "
        f"shared network {result['shared_network']['sku_periods_per_s']:,.0f} SKU-periods/s",
        highlight=False,
    )
    if "decide" in result:
        d = result["decide"]
        out.print(
            f"POST /decide with {d['states']} SKUs: {d['in_service_ms']['median']:.2f} ms in the service, "
            f"{d['round_trip_ms']['p50_ms']:.2f} ms round trip (medians of {d['requests']})",
            highlight=False,
        )


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add this module's commands to the ``stocklab`` app (and its ``bench`` group)."""
    bench_app.command("catalogue")(bench_catalogue)
