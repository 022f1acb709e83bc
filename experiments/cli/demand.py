"""CLI commands: `stocklab forecast`, `stocklab segment` and `stocklab bench forecast`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stocklab.experiments.cli.common import JsonOpt, err, fail, print_json
from stocklab.experiments.cli.common import out as console

HistoryArg = Annotated[
    str, typer.Argument(help="Sales history: a CSV/parquet file (date, sku, quantity), or 'm3' / 'demo'.")
]
CapOpt = Annotated[
    bool, typer.Option("--cap-outliers", help="Cap outliers (Hampel filter) while cleaning the history.")
]


def _history(source: str, cap_outliers: bool):  # noqa: ANN202 - SalesHistory, imported lazily
    """Load and clean ``source``; the repairs cleaning made are printed on stderr, never silent."""
    from stocklab.envs.sales.clean import CleaningOptions
    from stocklab.envs.sales.history import load_history

    hist = load_history(source, CleaningOptions(outliers="cap" if cap_outliers else "keep"))
    if hist.report.changes:
        err.print(hist.report.summary(limit=10), highlight=False, markup=False, soft_wrap=True)
    return hist


def forecast(
    history: HistoryArg,
    sku: Annotated[str, typer.Option("--sku", help="SKU to forecast (e.g. N1402 in m3).")],
    model: Annotated[
        str,
        typer.Option(
            help="combo (default) | auto | ets | theta | arima | lstm | prophet | gbm | regression | tree | "
            "naive | seasonal_naive | moving_average | croston | sba."
        ),
    ] = "combo",
    horizon: Annotated[int, typer.Option(min=1, help="Periods forecast at each origin.")] = 12,
    origins: Annotated[int, typer.Option(min=1, help="Rolling origins of the backtest.")] = 3,
    out: Annotated[Path, typer.Option(help="Folder of the plot and the figures.")] = Path("runs/forecast"),
    cap_outliers: CapOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Rolling-origin backtest of a forecaster on one SKU (MAE, RMSE, MAPE, sMAPE, MASE) and a plot.

    The plot shows the history, the forecast and its 95 % prediction interval.
    """
    import json

    from rich.table import Table

    from stocklab.envs.core.errors import StocklabError
    from stocklab.envs.core.storage import check_output_dir, write_text
    from stocklab.envs.forecast.base import forecaster_class
    from stocklab.experiments.analysis.forecasting import plot_forecast, run_forecast

    try:
        forecaster_class(model)  # a misspelt name fails before the history is read
        out = check_output_dir(out)
        hist = _history(history, cap_outliers)
        figures, result, final = run_forecast(hist, sku, model, horizon, origins)
    except StocklabError as exc:
        fail(exc)
    figures["cleaning"] = hist.report.counts()
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in sku)
    figures["plot"] = str(plot_forecast(hist, sku, result, final, out / f"{safe}_{model}.png"))
    write_text(out / f"{safe}_{model}.json", json.dumps(figures, indent=2, default=float) + "\n")
    if as_json:
        print_json(figures)
        return
    table = Table(title=f"{sku}: {figures['chosen']}, horizon {horizon}, origins {figures['origins']}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key in ("mae", "rmse", "mape", "smape", "mase"):
        table.add_row(key.upper(), f"{figures[key]:.4g}")
    console.print(table)
    console.print(f"plot: {figures['plot']}")


def segment(
    history: HistoryArg,
    method: Annotated[str, typer.Option(help="Clustering: kmeans | dbscan | hierarchical.")] = "kmeans",
    k: Annotated[int, typer.Option("--k", min=1, help="Clusters of kmeans and hierarchical.")] = 4,
    eps: Annotated[
        float | None, typer.Option(help="DBSCAN neighbourhood radius (default: the k-distance knee).")
    ] = None,
    min_samples: Annotated[int, typer.Option(min=1, help="DBSCAN: neighbours of a core point.")] = 5,
    select: Annotated[
        list[str] | None,
        typer.Option("--select", help="Print the SKUs of this class (smooth, erratic, intermittent, lumpy)."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder of the table and the plots.")] = Path("runs/segment"),
    seed: Annotated[int, typer.Option(help="Seed of K-means.")] = 0,
    cap_outliers: CapOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Classify SKUs by demand pattern and cluster them.

    Syntetos-Boylan classes (ADI / CV²) and clusters of scaled features by K-means, DBSCAN or Ward
    hierarchical clustering, with the silhouette of each method; writes segments.csv, segments.png
    and (hierarchical) dendrogram.png.
    """
    from stocklab.envs.core.errors import StocklabError
    from stocklab.envs.core.storage import check_output_dir
    from stocklab.experiments.analysis import segment as seg
    from stocklab.experiments.store import write_csv

    try:
        seg.check_classes(select or [])
        seg.check_method(method)
        out = check_output_dir(out)
        hist = _history(history, cap_outliers)
        table = seg.segment(hist, k=k, seed=seed, method=method, eps=eps, min_samples=min_samples)
        chosen = seg.select_skus(table, classes=select) if select else None
        compare = seg.compare_methods(table, k, seed, min_samples)
    except StocklabError as exc:
        fail(exc)
    csv_path = out / "segments.csv"
    write_csv(csv_path, table)
    title = f"{history}: {len(table)} SKUs"
    figures = {**seg.summary(table), "method": method, "silhouette": compare[method]["silhouette"],
               "methods": compare, "table": str(csv_path), "cleaning": hist.report.counts(),
               "plot": str(seg.plot_segments(table, out / "segments.png", title=title, method=method))}  # fmt: skip
    if method == "hierarchical":
        figures["dendrogram"] = str(seg.plot_dendrogram(table, out / "dendrogram.png", k, title=title))
    if chosen is not None:
        figures["selected"] = chosen
    if as_json:
        print_json(figures)
        return
    _print_segments(history, figures)


def _print_segments(history: str, figures: dict) -> None:
    from rich.table import Table

    grid = Table(title=f"{history}: {figures['skus']} SKUs by demand pattern")
    grid.add_column("class")
    grid.add_column("SKUs", justify="right")
    for name, count in figures["classes"].items():
        grid.add_row(name, str(count))
    console.print(grid)
    methods = Table(title="clusterings of the scaled features")
    for col in ("method", "clusters", "noise", "silhouette"):
        methods.add_column(col, justify="left" if col == "method" else "right")
    for name, r in figures["methods"].items():
        sil = "–" if r["silhouette"] is None else f"{r['silhouette']:.3f}"
        methods.add_row(
            name + (" (used)" if name == figures["method"] else ""), str(r["clusters"]), str(r["noise"]), sil
        )
    console.print(methods)
    console.print(f"table: {figures['table']}\nplot: {figures['plot']}")
    if "dendrogram" in figures:
        console.print(f"dendrogram: {figures['dendrogram']}")
    if "selected" in figures:
        console.print(" ".join(figures["selected"]) or "(no SKU in the selected classes)")


#: Forecasters scored by ``stocklab bench forecast --accuracy`` unless --models names others.
ACCURACY_MODELS = "naive,seasonal_naive,ets,theta,arima,combo,regression,gbm,lstm,prophet"


def bench_forecast(
    steps: Annotated[int, typer.Option(min=100, help="env.step() calls per run.")] = 20000,
    repeats: Annotated[int, typer.Option(min=1, help="Runs per setting; the median is reported.")] = 3,
    env: Annotated[
        bool | None,
        typer.Option(
            "--env/--no-env", help="Time the forecast-fed env (default: unless --fit-all/--accuracy)."
        ),
    ] = None,
    fit_all: Annotated[
        bool,
        typer.Option("--fit-all", help="Time fitting --model on every M3 series and forecasting 18 months."),
    ] = False,
    model: Annotated[
        str, typer.Option(help="Forecaster timed by --fit-all (default: the default one).")
    ] = "",
    accuracy: Annotated[
        bool, typer.Option("--accuracy", help="Score --models on the M3 hold-out (last 18 months held out).")
    ] = False,
    models: Annotated[
        str, typer.Option(help="Comma-separated forecasters scored by --accuracy.")
    ] = ACCURACY_MODELS,
    quantiles: Annotated[
        bool,
        typer.Option("--quantiles", help="Score --model's lead-time demand quantiles on the M3 hold-out."),
    ] = False,
    series: Annotated[int, typer.Option(min=0, help="Use the first N M3 series only (0: all 474).")] = 0,
    jobs: Annotated[int, typer.Option(min=1, help="Worker processes for fitting.")] = 2,
    as_json: JsonOpt = False,
) -> None:
    """Benchmarks of the demand side.

    env.step() per second of an ETS-fed env (information none / forecast / oracle_mean); with
    --fit-all the wall time to fit a forecaster on all 474 M3 monthly MICRO series and forecast 18
    months; with --accuracy the M3 protocol table: per model the mean and median MASE, sMAPE, fit
    seconds and the guard figures.
    """
    from stocklab.envs.core.errors import StocklabError

    try:
        skip_env = fit_all or accuracy or quantiles if env is None else not env
        result = _bench_forecast_figures(
            steps, repeats, skip_env, fit_all, model, accuracy, models, series, jobs, quantiles
        )
    except StocklabError as exc:
        fail(exc)
    if as_json:
        print_json(result)
        return
    _print_bench_forecast(result, repeats, steps)


def _bench_forecast_figures(
    steps: int, repeats: int, skip_env: bool, fit_all: bool, model: str, accuracy: bool, models: str,
    series: int, jobs: int, quantiles: bool = False,
) -> dict:  # fmt: skip
    """Run the benchmarks asked for and collect their figures (StocklabError for bad names)."""
    from stocklab.envs.forecast.base import DEFAULT_FORECASTER, forecaster_class
    from stocklab.experiments.bench.forecast import fit_all as run_fit_all
    from stocklab.experiments.bench.forecast import (
        forecast_env_throughput,
        holdout_accuracy,
        quantile_coverage,
    )

    names = [m.strip() for m in models.split(",") if m.strip()]
    for name in [*names, model or DEFAULT_FORECASTER]:
        forecaster_class(name)
    result: dict = {}
    if not skip_env:
        result["env"] = forecast_env_throughput(steps=steps, repeats=repeats)
    if fit_all:
        result["fit_all"] = run_fit_all(model or DEFAULT_FORECASTER, limit=series or None, jobs=jobs)
    if accuracy:
        result["accuracy"] = holdout_accuracy(names, limit=series or None, jobs=jobs)
    if quantiles:
        result["quantiles"] = quantile_coverage(model or DEFAULT_FORECASTER, limit=series or None, jobs=jobs)
    return result


def _print_bench_forecast(result: dict, repeats: int, steps: int) -> None:
    from rich.table import Table

    if "env" in result:
        table = Table(title=f"forecast-fed env.step() throughput (median of {repeats} x {steps} steps)")
        table.add_column("information")
        table.add_column("steps/s", justify="right")
        for info, r in result["env"].items():
            table.add_row(info, f"{r['steps_per_s']:,.0f}")
        console.print(table)
    if "fit_all" in result:
        fa = result["fit_all"]
        console.print(
            f"fit {fa['model']} on {fa['series']} {fa['source']} series and forecast: {fa['seconds']:.1f} s "
            f"({fa['seconds_per_series'] * 1000:.0f} ms per series, {fa['jobs']} jobs)"
        )
    if "accuracy" in result:
        acc = result["accuracy"]
        grid = Table(title=f"M3 hold-out ({acc['horizon']} months) of {acc['series']} series")
        cols = ("model", "mean MASE", "median MASE", "sMAPE", "fit s", "max / series max", "guarded")
        for col in cols:
            grid.add_column(col, justify="left" if col == "model" else "right")
        for name, r in acc["models"].items():
            grid.add_row(
                name, f"{r['mase']:.3f}", f"{r['mase_median']:.3f}", f"{r['smape']:.2f}", f"{r['seconds']:.1f}",
                f"{r['max_ratio']:.2f}", str(r["guarded"]),
            )  # fmt: skip
        console.print(grid)
    if "quantiles" in result:
        _print_quantiles(result["quantiles"])


def _print_quantiles(q: dict) -> None:
    from rich.table import Table

    grid = Table(
        title=f"lead-time demand quantiles of {q['model']} on the M3 hold-out ({q['series']} series)"
    )
    for col in ("lead time", "fractile", "coverage", "pinball", "pinball / scale", "windows"):
        grid.add_column(col, justify="right")
    for lead, row in q["lead_times"].items():
        for f, r in row["fractiles"].items():
            grid.add_row(lead, f, f"{r['coverage']:.3f}", f"{r['pinball']:.4g}", f"{r['pinball_scaled']:.3f}",
                         str(r["windows"]))  # fmt: skip
    console.print(grid)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add this module's commands to the ``stocklab`` app (and its ``bench`` group)."""
    app.command()(forecast)
    app.command()(segment)
    bench_app.command("forecast")(bench_forecast)
