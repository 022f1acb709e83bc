"""Catalogue KPIs from ``catalogue_episodes.csv`` and ``catalogue_periods.csv``.

Per policy, averaged over the evaluation episodes (money per period for costs):

* ``cost`` = sum_i avg_cost_i (the catalogue's cost per period) with its 95% confidence half-width
  over episodes (``ci95``), and its components (holding, shortage, fixed, unit, overflow);
* ``fill_rate`` = sum_i sold_i / sum_i demand_i (demand served from stock in its period);
* ``stockout_sku_share``: share of SKUs with at least one period of unmet demand;
* ``inventory_value`` = sum_i c_i avg_on_hand_i (money; c_i the SKU's unit cost) and ``turns`` =
  (sum_i c_i sold_i / periods) / inventory_value (cost of goods sold per period over the average
  inventory value: turns per period);
* ``capacity_util`` = mean volume on hand after arrivals / C, ``capacity_peak`` its maximum,
  ``within_capacity``: share of periods with nothing refused and no overflow, ``capacity_violations``:
  periods where the limit refused or overflowed (all episodes);
* ``budget_util`` = mean money ordered / B, ``within_budget``: share of periods with no order cut;
* ``gap_pct`` = 100 (cost - bound) / bound, where a lower bound applies.

The same per segment (a label column: Syntetos-Boylan class or K-means cluster): cost, fill rate,
stock-out share, inventory value, SKU count.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

COMPONENTS = ("holding_cost", "shortage_cost", "fixed_cost", "unit_cost", "overflow_cost")


def ci95(values: np.ndarray) -> float | None:
    """Half-width of the 95% t confidence interval of the mean of ``values`` (None for one value)."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return None
    return float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))


def _per_episode(rows: pd.DataFrame) -> pd.DataFrame:
    """Catalogue totals per episode of one policy's rows."""
    r = rows.assign(
        value=rows["unit_value"] * rows["avg_on_hand"],
        cogs=rows["unit_value"] * rows["sold"] / rows["periods"].clip(lower=1),
        stocked_out=(rows["stockout_periods"] > 0).astype(float),
    )
    cols = ["avg_cost", *COMPONENTS, "demand", "sold", "value", "cogs"]
    g = r.groupby("episode")
    out = g[cols].sum()
    out["stockout_sku_share"] = g["stocked_out"].mean()
    out["skus"] = g.size()
    return out


def group_kpis(rows: pd.DataFrame) -> dict[str, Any]:
    """Cost, components, fill rate, stock-out share, inventory value and turns of one policy's rows."""
    ep = _per_episode(rows)
    value = float(ep["value"].mean())
    demand = float(ep["demand"].sum())
    out: dict[str, Any] = {
        "skus": int(ep["skus"].iloc[0]),
        "cost": float(ep["avg_cost"].mean()),
        "ci95": ci95(ep["avg_cost"].to_numpy()),
        **{c: float(ep[c].mean()) for c in COMPONENTS},
        "fill_rate": float(ep["sold"].sum() / demand) if demand > 0 else 1.0,
        "stockout_sku_share": float(ep["stockout_sku_share"].mean()),
        "inventory_value": value,
        "turns": float(ep["cogs"].mean() / value) if value > 0 else None,
    }
    return out


def shared_kpis(periods: pd.DataFrame, capacity: float | None, budget: float | None) -> dict[str, Any]:
    """Capacity and budget utilisation and violations of one policy's per-period totals."""
    out: dict[str, Any] = {"periods_measured": int(len(periods))}
    if capacity is not None:
        bad = (periods["refused"] > 0) | (periods["overflow"] > 0)
        out.update(
            capacity_util=float(periods["capacity_used"].mean() / capacity),
            capacity_peak=float(periods["capacity_used"].max() / capacity) if len(periods) else 0.0,
            within_capacity=float(1.0 - bad.mean()) if len(periods) else 1.0,
            capacity_violations=int(bad.sum()),
            refused_per_period=float(periods["refused"].mean()),
        )
    if budget is not None:
        cut = periods["cut"] > 0
        out.update(
            budget_util=float(periods["budget_used"].mean() / budget),
            within_budget=float(1.0 - cut.mean()) if len(periods) else 1.0,
            budget_violations=int(cut.sum()),
        )
    return out


def paired_difference(episodes: pd.DataFrame, policy: str, reference: str) -> dict[str, Any]:
    """Mean per-episode difference of catalogue cost, ``policy`` - ``reference``, and its 95% half-width."""
    cost = episodes.groupby(["policy", "episode"])["avg_cost"].sum().unstack("policy")
    d = (cost[policy] - cost[reference]).to_numpy()
    return {"mean": float(d.mean()), "ci95": ci95(d), "pct": 100.0 * float(d.mean() / cost[reference].mean())}


def policy_kpis(
    episodes: pd.DataFrame,
    periods: pd.DataFrame,
    capacity: float | None = None,
    budget: float | None = None,
    bound: float | None = None,
) -> dict[str, dict[str, Any]]:
    """KPIs of every policy (in the order of first appearance), with the gap to ``bound`` where given."""
    out: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(episodes["policy"]):
        k = group_kpis(episodes[episodes["policy"] == name])
        k.update(shared_kpis(periods[periods["policy"] == name], capacity, budget))
        ok = bound is not None and math.isfinite(bound) and bound > 0
        k["gap_pct"] = 100.0 * (k["cost"] - bound) / bound if ok else None  # type: ignore[operator]
        out[name] = k
    return out


def segment_kpis(episodes: pd.DataFrame, column: str = "segment") -> pd.DataFrame:
    """One row per policy and segment label: SKUs, cost, share of the policy's cost, fill rate, stock-outs, value."""
    rows = []
    for (name, label), g in episodes.groupby(["policy", column], sort=False):
        k = group_kpis(g)
        rows.append({"policy": name, column: label, **{c: k[c] for c in (
            "skus", "cost", "fill_rate", "stockout_sku_share", "inventory_value")}})  # fmt: skip
    out = pd.DataFrame(rows)
    if len(out):
        totals = out.groupby("policy")["cost"].transform("sum")
        out["cost_share"] = out["cost"] / totals.where(totals != 0, 1.0)
    return out


def sku_costs(episodes: pd.DataFrame) -> pd.DataFrame:
    """Average cost per period of every SKU (rows) under every policy (columns), over episodes."""
    return episodes.groupby(["sku", "policy"], sort=False)["avg_cost"].mean().unstack("policy")


def best_policy(kpis: dict[str, dict[str, Any]], target: float = 0.99) -> str:
    """The cheapest policy among those within capacity in at least ``target`` of periods (else the cheapest)."""
    ok = [n for n, k in kpis.items() if k.get("within_capacity", 1.0) >= target]
    pool = ok or list(kpis)
    return min(pool, key=lambda n: kpis[n]["cost"])
