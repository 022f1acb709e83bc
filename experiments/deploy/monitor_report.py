"""The monitoring report on disk: ``monitor.json``, ``report.md``, ``report.html`` and ``plots/``.

The plots show each flagged SKU's demand against its forecast with the detected shift, its tracking
signal, and the realised cost per SKU against the predicted one; the HTML embeds them (no network).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from stocklab.experiments.analysis import plots  # noqa: F401  (selects the Agg backend)
from stocklab.experiments.analysis.report import to_html, to_markdown
from stocklab.experiments.deploy.monitor import TRACKING_LIMIT
from stocklab.experiments.store import write_json, write_text

#: SKUs that get their own plots (the flagged ones first).
MAX_SKU_PLOTS = 8


def _f(x: Any, digits: int = 3) -> str:
    return "–" if x is None else (f"{x:.{digits}f}" if isinstance(x, float) else str(x))


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    tmp.replace(path)
    return path


def plot_sku(name: str, report: dict[str, Any], series: pd.DataFrame, path: Path) -> Path:
    """Demand and forecast over time (with the detected shift) above the tracking signal."""
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 4.6), sharex=True, height_ratios=[2, 1])
    top.plot(series["period"], series["demand"], lw=1, color="#4C72B0", label="demand")
    top.plot(series["period"], series["forecast"], lw=1.2, color="#DD8452", label="forecast / assumed mean")
    shift = report["demand_shift"]
    if shift["detected"]:
        top.axvline(shift["period"], color="#C44E52", ls="--", label=f"shift ({shift['direction']})")
    top.set_ylabel("units")
    top.legend(loc="upper left", fontsize=8)
    top.set_title(f"{name}: {', '.join(report['flags']) or 'no flags'}", fontsize=10)
    bottom.plot(series["period"], series["tracking_signal"], color="#55A868", lw=1)
    for y in (-TRACKING_LIMIT, TRACKING_LIMIT):
        bottom.axhline(y, color="#999", ls=":")
    bottom.set_ylabel("tracking signal")
    bottom.set_xlabel("period")
    return _save(fig, path)


def plot_costs(report: dict[str, Any], path: Path) -> Path | None:
    """Realised cost per period of each SKU against the predicted cost (when known)."""
    import matplotlib.pyplot as plt

    skus = [(s, r["cost"]["cost"]) for s, r in report["skus"].items() if "cost" in r][:40]
    if not skus:
        return None
    fig, ax = plt.subplots(figsize=(max(4, 0.4 * len(skus) + 2), 3.2))
    colours = ["#C44E52" if "cost" in report["skus"][s]["flags"] else "#4C72B0" for s, _ in skus]
    ax.bar([s for s, _ in skus], [c for _, c in skus], color=colours)
    if report["predicted"]:
        ax.axhline(report["predicted"]["avg_cost"], color="#333", ls="--", label="predicted")
        ax.legend(fontsize=8)
    ax.set_ylabel("cost per period")
    ax.tick_params(axis="x", rotation=60, labelsize=7)
    return _save(fig, path)


def _blocks(report: dict[str, Any], plot_paths: list[tuple[Path, str]]) -> list[tuple[str, Any]]:
    o, inputs = report["overall"], report["inputs"]
    blocks: list[tuple[str, Any]] = [
        ("p", f"Decisions `{inputs['decisions']}` joined with actuals `{inputs['actuals']}`: "
              f"{inputs['decisions_joined']} decisions over {o['skus']} SKUs "
              f"({inputs['decisions_without_actuals']} decisions have no actuals yet)."),
        ("h2", "Re-tune or re-train"),
        ("p", ", ".join(report["retune"]) if report["retune"] else "No SKU needs attention."),
    ]  # fmt: skip
    rows = [[s, "; ".join(r["reasons"])] for s, r in report["skus"].items() if r["reasons"]]
    if rows:
        blocks.append(("table", (["SKU", "why"], rows)))
    p = report["predicted"] or {}
    blocks += [("h2", "Per SKU"), ("table", (
        ["SKU", "periods", "cost/period", "predicted", "holding", "shortage", "fill rate", "predicted fill",
         "stock-outs", "forecast bias", "tracking signal", "lead time", "assumed L"],
        [[s, r["periods"], _f(r.get("cost", {}).get("cost")), _f(p.get("avg_cost")),
          _f(r.get("cost", {}).get("holding_cost")), _f(r.get("cost", {}).get("shortage_cost")),
          _f(r["fill_rate"]), _f(p.get("fill_rate")), r["stockout_periods"], _f(r["forecast_bias"]),
          _f(r["tracking_signal"], 2), _f(r["lead_time"]["realised_mean"], 2), _f(r["lead_time"]["assumed"])]
         for s, r in report["skus"].items()],
    ))]  # fmt: skip
    if plot_paths:
        blocks.append(("h2", "Plots"))
        blocks += [("img", (path, alt)) for path, alt in plot_paths]
    return blocks


def write_report(report: dict[str, Any], series: dict[str, pd.DataFrame], out: Path) -> Path:
    """Write ``monitor.json``, the plots, ``report.md`` and ``report.html`` to ``out``; return the HTML."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "monitor.json", report)
    ranked = sorted(report["skus"], key=lambda s: (not report["skus"][s]["flags"], s))[:MAX_SKU_PLOTS]
    paths: list[tuple[Path, str]] = []
    cost = plot_costs(report, out / "plots" / "cost_per_sku.png")
    if cost is not None:
        paths.append((cost, "realised cost per period by SKU"))
    for i, name in enumerate(ranked):
        path = plot_sku(name, report["skus"][name], series[name], out / "plots" / f"sku_{i:02d}.png")
        paths.append((path, f"{name}: demand, forecast and tracking signal"))
    blocks = _blocks(report, paths)
    title = "stocklab monitor"
    write_text(out / "report.md", to_markdown(title, blocks, out))
    write_text(out / "report.html", to_html(title, blocks))
    return out / "report.html"
