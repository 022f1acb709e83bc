"""Report figures (matplotlib, Agg backend), one PNG per function.

Cost with CI bars, cost breakdown, trajectories, learning curves. Each function writes one PNG and returns its
path; figures are closed after saving.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: reports are built in terminals, CI and worker processes

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

#: Cost components of a period, in stacking order, with their colours.
COMPONENTS = {
    "holding_cost": ("holding", "#4C72B0"),
    "shortage_cost": ("shortage", "#C44E52"),
    "fixed_cost": ("fixed ordering", "#DD8452"),
    "unit_cost": ("unit ordering", "#8172B3"),
}
DPI = 110


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    tmp.replace(path)
    return path


def _clip_limit(values: list[float]) -> float | None:
    """An axis limit that keeps ordinary policies readable next to a far worse one (None: no clipping).

    When the largest value exceeds 5 times the median, the axis stops at 2.5 times the median and the
    clipped bars are labelled with their values.
    """
    finite = sorted(v for v in values if math.isfinite(v) and v > 0)
    if len(finite) < 3:
        return None
    median = finite[len(finite) // 2]
    return 2.5 * median if finite[-1] > 5 * median else None


def cost_with_ci(summary: dict[str, dict[str, Any]], optimum: float | None, path: Path) -> Path:
    """Average cost per period of each policy (cheapest on top), with 95% CIs and the DP optimum.

    Each policy is a dot with its 95% CI bar. Dots rather than bars, so that the axis can zoom in on the
    differences.
    """
    names = list(summary)[::-1]
    costs = [summary[n]["avg_cost"] for n in names]
    errs = [summary[n]["ci95"] or 0.0 for n in names]
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(names) + 1.4))
    top = _clip_limit(costs)
    inside = [i for i, c in enumerate(costs) if top is None or c <= top]
    ax.errorbar(
        [costs[i] for i in inside], inside, xerr=[errs[i] for i in inside],
        fmt="o", color="#4C72B0", ecolor="black", capsize=4,
    )  # fmt: skip
    ax.set_yticks(range(len(names)), names)
    title = "Cost per policy"
    if optimum is not None:
        ax.axvline(optimum, color="#C44E52", ls="--", lw=1.2)
        title += f" (dashed: DP optimum {optimum:.3f})"
    if top is not None:  # far worse policies: an arrow at the edge, labelled with their cost
        low = min(costs[i] - errs[i] for i in inside)
        ax.set_xlim(low - 0.05 * (top - low), top)
        for i, c in enumerate(costs):
            if c > top:
                ax.plot([top], [i], marker=">", color="#C44E52", clip_on=False)
                ax.annotate(f"{c:,.1f} ± {errs[i]:,.1f}", (top, i), xytext=(-10, 0), textcoords="offset points",
                            ha="right", va="center", fontsize=8)  # fmt: skip
    else:
        ax.margins(x=0.15)
    ax.set_xlabel("average cost per period (95% CI over episodes)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def cost_breakdown(summary: dict[str, dict[str, Any]], path: Path) -> Path:
    """Stacked average cost components per policy (money per period)."""
    names = list(summary)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(names) + 2), 4.2))
    bottom = [0.0] * len(names)
    for key, (label, colour) in COMPONENTS.items():
        values = [summary[n].get(key) or 0.0 for n in names]
        if not any(values):
            continue
        ax.bar(names, values, bottom=bottom, label=label, color=colour)
        bottom = [b + v for b, v in zip(bottom, values)]
    top = _clip_limit(bottom)
    if top is not None:
        ax.set_ylim(0, top)
        for x, total in enumerate(bottom):
            if total > top:
                ax.text(x, top * 0.97, f"{total:,.1f} ↑", ha="center", va="top", color="white", fontsize=8)
    ax.set_ylabel("cost per period")
    ax.set_title("Cost breakdown")
    ax.legend(fontsize=8)
    ax.tick_params(axis="x", rotation=30)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def trajectories(traces: dict[str, pd.DataFrame], path: Path) -> Path:
    """Inventory position, on-hand stock, orders and demand over the first periods, one panel per policy.

    The periods are those of evaluation episode 0 (the same demand for every policy).
    """
    names = list(traces)
    cols = 2 if len(names) > 1 else 1
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 2.5 * rows), squeeze=False, sharex=True)
    for ax, name in zip(axes.flat, names):
        t = traces[name]
        ax.bar(t["period"], t["order"], color="#DD8452", alpha=0.6, label="order")
        ax.step(
            t["period"], t["inventory_position"], where="post", color="#4C72B0", label="inventory position"
        )
        ax.step(
            t["period"], t["on_hand"] - t["backlog"], where="post", color="#55A868", label="on hand - backlog"
        )
        ax.plot(t["period"], t["demand"], "k.", ms=3, label="demand")
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.supxlabel("period of evaluation episode 0 (after warm-up)", fontsize=9)
    fig.supylabel("units", fontsize=9)
    fig.suptitle("Trajectories (same demand for every policy)", fontsize=10)
    fig.tight_layout()
    fig.legend(handles, labels, loc="upper center", ncol=4, fontsize=8, bbox_to_anchor=(0.5, 0.0))
    return _save(fig, path)


def learning_curves(curves: dict[str, pd.DataFrame], optimum: float | None, path: Path) -> Path:
    """Learning curve of each trained agent (one panel each, own scale).

    The training-time evaluation metric against training env steps, with the DP optimum for reference.
    """
    names = list(curves)
    cols = min(len(names), 2)
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 3.0 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        frame = curves[name]
        metric = str(frame["metric"].iloc[0]) if "metric" in frame and len(frame) else "value"
        ax.plot(frame["step"], frame["value"], marker=".", color="#4C72B0")
        if optimum is not None:
            ax.axhline(optimum, color="#C44E52", ls="--", lw=1.0, label=f"DP optimum {optimum:.3f}")
            ax.legend(fontsize=7)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("training env steps", fontsize=8)
        ax.set_ylabel(metric, fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.suptitle("Learning curves")
    fig.tight_layout()
    return _save(fig, path)
