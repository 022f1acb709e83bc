"""Catalogue report figures (matplotlib, Agg): cost across SKUs, Pareto, worst SKUs, capacity over time."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: reports are built in terminals, CI and worker processes

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from stocklab.experiments.analysis.plots import _save  # noqa: E402

#: Periods shown by the capacity plot.
SHOWN_PERIODS = 120
WIDTH = 11.0  # inches: 1,210 px at the report's DPI, inside a 1,280 px window


def cost_distribution_figure(costs: pd.DataFrame) -> Figure:
    """Box plot of each SKU's average cost per period under every policy (``costs``: SKUs x policies)."""
    fig, ax = plt.subplots(figsize=(WIDTH, 0.5 * len(costs.columns) + 1.6))
    data = [costs[c].dropna().to_numpy() for c in costs.columns]
    ax.boxplot(data, orientation="horizontal", showmeans=True, whis=(5, 95), flierprops={"markersize": 2})
    ax.set_yticks(range(1, len(costs.columns) + 1), list(costs.columns))
    positive = np.concatenate(data) if data else np.zeros(0)
    if len(positive) and (positive > 0).all() and positive.max() / max(positive.min(), 1e-12) > 100:
        ax.set_xscale("log")
    ax.set_xlabel("average cost per period of a SKU (money); whiskers 5-95%, triangle: mean")
    ax.set_title("Cost across SKUs, per policy")
    ax.grid(axis="x", alpha=0.3)
    return fig


def pareto_figure(costs: pd.Series, policy: str) -> Figure:
    """Pareto of cost by SKU: SKUs by decreasing cost, bars, and the cumulative share of the total."""
    c = costs.sort_values(ascending=False).to_numpy()
    total = c.sum()
    fig, ax = plt.subplots(figsize=(WIDTH, 3.6))
    x = np.arange(1, len(c) + 1)
    ax.bar(x, c, width=1.0, color="#4C72B0")
    ax.set_xlabel(f"SKUs by decreasing cost under {policy}")
    ax.set_ylabel("cost per period (money)")
    ax2 = ax.twinx()
    share = np.cumsum(c) / total if total > 0 else np.zeros_like(c)
    ax2.plot(x, 100 * share, color="#C44E52")
    ax2.set_ylim(0, 101)
    ax2.set_ylabel("cumulative % of the catalogue's cost")
    k = int(np.searchsorted(share, 0.8)) + 1 if total > 0 else 0
    ax.set_title(f"Pareto of cost by SKU ({policy}): {k} of {len(c)} SKUs make 80% of the cost")
    return fig


def worst_skus_figure(trace: pd.DataFrame, order: list[str], policy: str) -> Figure:
    """On-hand stock, demand, orders and unmet demand of the worst SKUs (``order``) over the first episode."""
    n = len(order)
    cols = min(5, max(n, 1))
    rows = max(1, int(np.ceil(n / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(WIDTH, 2.2 * rows + 0.6), squeeze=False, sharex=True)
    for ax, sku in zip(axes.flat, order):
        t = trace[trace["sku"] == sku]
        ax.step(t["period"], t["on_hand"], where="post", label="on hand (end)", color="#4C72B0")
        ax.plot(t["period"], t["demand"], ".", markersize=3, label="demand", color="#555555")
        ax.bar(t["period"], t["order"], width=0.8, alpha=0.35, label="order", color="#55A868")
        ax.bar(
            t["period"],
            -t["unmet"],
            width=0.8,
            alpha=0.6,
            label="unmet (lost / backordered)",
            color="#C44E52",
        )
        ax.set_title(str(sku), fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle(f"The {n} costliest SKUs under {policy}: first episode (units per period)", fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    return fig


def capacity_figure(periods: pd.DataFrame, capacity: float) -> Figure:
    """Capacity utilisation (volume on hand after arrivals / C) over the first episode, per policy."""
    fig, ax = plt.subplots(figsize=(WIDTH, 3.4))
    first = periods[(periods["episode"] == 0) & (periods["period"] < SHOWN_PERIODS)]  # readable lines
    for name, g in first.groupby("policy", sort=False):
        ax.plot(g["period"], 100 * g["capacity_used"] / capacity, label=str(name), linewidth=1)
    ax.axhline(100, color="#C44E52", linestyle="--", linewidth=1, label="capacity")
    ax.set_xlabel("period")
    ax.set_ylabel("% of capacity used")
    ax.set_title(f"Capacity utilisation over time (first episode, up to {SHOWN_PERIODS} periods)")
    ax.legend(fontsize=8, ncol=3)
    ax.grid(alpha=0.3)
    return fig


def save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG atomically."""
    return _save(fig, path)
