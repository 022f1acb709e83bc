"""Report figures (matplotlib, Agg backend): cost differences, breakdown, trajectories, learning curves.

Each ``*_figure`` function builds one figure from plain data (so tests can read what is drawn); the
function without the suffix saves it as a PNG through the atomic writer and returns the path. Legends
sit outside the axes, so they never cover data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: reports are built in terminals, CI and worker processes

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from stocklab.envs.core.storage import atomic_path  # noqa: E402

#: Cost components of a period, in stacking order, with their colours.
COMPONENTS = {
    "holding_cost": ("holding", "#4C72B0"),
    "shortage_cost": ("shortage", "#C44E52"),
    "fixed_cost": ("fixed ordering", "#DD8452"),
    "unit_cost": ("unit ordering", "#8172B3"),
}
DPI = 110
OPTIMUM_COLOUR = "#C44E52"
EXACT_COLOUR = "#2CA02C"


def _save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG atomically (mode 0o666 minus the umask, like every stocklab file)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return path


def _clip_limit(values: list[float], ratio: float = 5.0) -> float | None:
    """An axis limit that keeps ordinary policies readable next to a far worse one (None: no clipping).

    When the largest positive value exceeds ``ratio`` times the median, the axis stops at ``ratio / 2``
    times the median and the clipped values are marked at the edge.
    """
    finite = sorted(v for v in values if math.isfinite(v) and v > 0)
    if len(finite) < 3:
        return None
    median = finite[len(finite) // 2]
    return ratio / 2 * median if finite[-1] > ratio * median else None


# --------------------------------------------------------------------------- paired cost differences
def cost_differences_figure(diffs: pd.DataFrame, best: str, episodes: int) -> Figure:
    """Each policy's paired cost difference to the best policy, with its 95% paired-t CI bar.

    ``diffs`` is :func:`~stocklab.experiments.analysis.stats.difference_frame` (cheapest first): the
    same numbers as the report's "Δ to best" column. Hollow diamonds mark the DP's exact difference
    where the DP evaluated both policies. The y tick labels carry the numbers.
    """
    frame = diffs.iloc[::-1].reset_index(drop=True)  # cheapest on top
    d, h = frame["diff"].to_list(), frame["ci95"].fillna(0.0).to_list()
    labels = [f"{p}  {v:+.3f} ± {e:.3f}" for p, v, e in zip(frame["policy"], d, h)]
    fig, ax = plt.subplots(figsize=(7.5, 0.42 * len(frame) + 1.9), layout="constrained")
    top = _clip_limit([v + e for v, e in zip(d, h)], ratio=10.0)  # differences start at 0: clip later
    inside = [i for i, v in enumerate(d) if top is None or v + h[i] <= top]
    ax.errorbar([d[i] for i in inside], inside, xerr=[h[i] for i in inside], fmt="o", color="#4C72B0",
                ecolor="black", capsize=4, label="mean paired difference, 95% CI")  # fmt: skip
    exact = [(i, v) for i, v in enumerate(frame["exact_diff"]) if v is not None and not pd.isna(v)]
    exact = [(i, v) for i, v in exact if i in inside]
    if exact:
        ax.plot([v for _, v in exact], [i for i, _ in exact], "D", mfc="none", color=EXACT_COLOUR, ms=7,
                label="exact difference (DP)")  # fmt: skip
    ax.axvline(0.0, color="#555555", lw=1.0)
    ax.set_yticks(range(len(frame)), labels, fontsize=8)
    if top is not None:  # far worse policies: an arrow at the edge (their numbers are in the tick label)
        low = min(min(d[i] - h[i] for i in inside), 0.0)
        ax.set_xlim(low - 0.05 * (top - low), top)
        for i in range(len(d)):
            if i not in inside:
                ax.plot([top], [i], marker=">", color=OPTIMUM_COLOUR, clip_on=False)
    else:
        ax.margins(x=0.1)
    ax.set_ylim(-0.6, len(frame) - 0.4)
    ax.set_xlabel(f"extra cost per period vs {best} (paired over {episodes} common-seed episodes)")
    ax.set_title(f"Cost difference to the best policy ({best})", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i].startswith("exact"))
    fig.legend([handles[i] for i in order], [labels[i] for i in order], loc="outside lower center", ncol=2,
               fontsize=8, frameon=False)  # fmt: skip
    return fig


def cost_differences(diffs: pd.DataFrame, best: str, episodes: int, path: Path) -> Path:
    """Save :func:`cost_differences_figure` as a PNG at ``path``."""
    return _save(cost_differences_figure(diffs, best, episodes), path)


# ------------------------------------------------------------------------------------ cost breakdown
def cost_breakdown_figure(summary: dict[str, dict[str, Any]]) -> Figure:
    """Stacked average cost components per policy (money per period); the legend right of the axes."""
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
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    ax.tick_params(axis="x", rotation=30)
    for tick in ax.get_xticklabels():
        tick.set_horizontalalignment("right")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def cost_breakdown(summary: dict[str, dict[str, Any]], path: Path) -> Path:
    """Save :func:`cost_breakdown_figure` as a PNG at ``path``."""
    return _save(cost_breakdown_figure(summary), path)


# -------------------------------------------------------------------------------------- trajectories
def trajectories_figure(traces: dict[str, pd.DataFrame]) -> Figure:
    """Inventory position, on-hand stock, orders and demand: one panel per policy, legend below.

    The first periods of evaluation episode 0 (the same demand for every policy).
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
    return fig


def trajectories(traces: dict[str, pd.DataFrame], path: Path) -> Path:
    """Save :func:`trajectories_figure` as a PNG at ``path``."""
    return _save(trajectories_figure(traces), path)


# ----------------------------------------------------------------------------------- learning curves
@dataclass(frozen=True)
class CurvePanel:
    """One trained agent's learning curve and the costs it is compared with (money per period).

    ``frame`` has ``step`` (training env steps) and ``value`` (average cost of the greedy policy on
    the agent's training-evaluation seeds: an estimate from ``estimate`` episodes, e.g. "2 episodes ×
    500 periods"). ``exact_cost``: the DP's exact cost of the kept (final) policy, if evaluated;
    ``eval_cost`` / ``eval_ci95``: its mean cost on the run's evaluation seeds.
    """

    name: str
    frame: pd.DataFrame
    estimate: str
    exact_cost: float | None = None
    eval_cost: float | None = None
    eval_ci95: float | None = None

    def below(self, optimum: float | None) -> bool:
        """True when some training-seed estimate is below the DP optimum, which no policy can beat."""
        return optimum is not None and bool((self.frame["value"] < optimum).any())


def _curve_zoom(values: list[float], refs: list[float]) -> tuple[float, float] | None:
    """Y limits that keep the end of a learning curve readable when its first estimates are far higher.

    None (no zoom) unless the highest estimate lies more than the later curve's own range above it;
    the later curve is its last two thirds, together with the reference lines (exact cost, optimum).
    """
    late = values[len(values) // 3 :] + refs
    low, high = min(values + refs), max(late)
    span = max(high - low, 1e-9)
    if max(values) <= high + span:
        return None
    return low - 0.15 * span, high + 0.3 * span


def _curve_axes(ax: Any, panel: CurvePanel, optimum: float | None) -> None:
    f = panel.frame
    refs = [v for v in (panel.exact_cost, panel.eval_cost, optimum) if v is not None]
    zoom = _curve_zoom([float(v) for v in f["value"]], refs)
    title = panel.name
    if zoom is not None:  # estimates above the axis: a triangle on the edge, the highest in the title
        ax.set_ylim(*zoom)
        above = f[f["value"] > zoom[1]]
        ax.plot(above["step"], [zoom[1]] * len(above), "^", color="#4C72B0", ms=6, clip_on=False)
        title += f"\n▲ earlier estimates above the axis, up to {above['value'].max():.2f}"
    ax.plot(f["step"], f["value"], marker=".", color="#4C72B0",
            label=f"training-seed estimate ({panel.estimate})")  # fmt: skip
    if len(f):
        kept = f.loc[f["value"].idxmin()]
        ax.plot([kept["step"]], [kept["value"]], "*", color="#4C72B0", ms=11,
                label=f"kept policy's estimate {kept['value']:.3f}")  # fmt: skip
    if panel.exact_cost is not None:
        ax.axhline(panel.exact_cost, color=EXACT_COLOUR, lw=1.4,
                   label=f"kept policy, exact cost (DP) {panel.exact_cost:.3f}")  # fmt: skip
    elif panel.eval_cost is not None:
        ci = panel.eval_ci95 or 0.0
        ax.axhspan(panel.eval_cost - ci, panel.eval_cost + ci, color=EXACT_COLOUR, alpha=0.2, lw=0)
        ax.axhline(panel.eval_cost, color=EXACT_COLOUR, lw=1.4,
                   label=f"kept policy, evaluation seeds {panel.eval_cost:.3f} ± {ci:.3f}")  # fmt: skip
    if optimum is not None:
        ax.axhline(optimum, color=OPTIMUM_COLOUR, ls="--", lw=1.0, label=f"DP optimum {optimum:.3f}")
    if panel.below(optimum):
        title += "\n⚠ estimate below the DP optimum: noise of few training-seed episodes"
        ax.fill_between(f["step"], f["value"], optimum, where=f["value"] < optimum, color=OPTIMUM_COLOUR,
                        alpha=0.15, lw=0, label="estimate below the DP optimum (noise)")  # fmt: skip
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("training env steps", fontsize=8)
    ax.set_ylabel("average cost per period", fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1, frameon=False)


def learning_curves_figure(panels: list[CurvePanel], optimum: float | None) -> Figure:
    """One panel per trained agent (own scale), legends under the panels.

    Each panel: training-seed estimates against training env steps, the kept policy's exact cost (or
    its evaluation cost) and the DP optimum.
    """
    cols = min(len(panels), 2)
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 4.4 * rows), squeeze=False,
                             layout="constrained")  # fmt: skip
    for ax, panel in zip(axes.flat, panels):
        _curve_axes(ax, panel, optimum)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle("Learning curves: training-seed estimates (selection on them is optimistic)", fontsize=10)
    return fig


def learning_curves(panels: list[CurvePanel], optimum: float | None, path: Path) -> Path:
    """Save :func:`learning_curves_figure` as a PNG at ``path``."""
    return _save(learning_curves_figure(panels, optimum), path)
