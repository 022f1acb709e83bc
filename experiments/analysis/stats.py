"""Statistics across evaluation episodes: means with 95% CIs, paired differences, gaps to the optimum.

Every policy is evaluated on the same episode seeds, so for two policies A and B the per-episode
differences d_i = cost_A,i - cost_B,i remove the demand noise both share; the CI of mean(d) is the
paired-t interval (Law 2015, *Simulation Modeling and Analysis*, 5th ed., section 10.2.1), far
narrower than the CIs of the two means taken separately.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from stocklab.experiments.analysis.kpis import mean_ci

#: KPIs summarised per policy (columns of the per-episode results), in report order.
KPIS = (
    "avg_cost", "holding_cost", "shortage_cost", "fixed_cost", "unit_cost", "fill_rate",
    "cycle_service_level", "avg_on_hand", "avg_backlog", "order_frequency", "mean_order_size",
    "bullwhip", "forecast_mae", "forecast_rmse", "forecast_bias", "forecast_mape",
)  # fmt: skip


def nan_mean_ci(values: np.ndarray | list[float]) -> tuple[float, float]:
    """Mean and 95% CI half-width over the finite values (NaN, NaN when there are none)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if not len(x):
        return math.nan, math.nan
    return mean_ci(x)


def paired_difference(a: np.ndarray | list[float], b: np.ndarray | list[float]) -> tuple[float, float]:
    """Mean of a_i - b_i and its 95% paired-t CI half-width (a, b: per-episode values, same seeds)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired difference needs equal episode counts, got {a.shape} and {b.shape}")
    return mean_ci(a - b)


def _pct(value: float, base: float | None) -> float | None:
    if base is None or base <= 0 or not math.isfinite(value):
        return None
    return 100.0 * value / base


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def summarize_policies(
    episodes: pd.DataFrame,
    kinds: dict[str, str],
    optimum_cost: float | None = None,
    exact_costs: dict[str, float | None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per-policy summary, sorted by mean cost (cheapest first).

    ``episodes``: per-episode results (schema :data:`~stocklab.experiments.store.EPISODE_COLUMNS`),
    every policy on the same seeds. ``optimum_cost``: the exact optimal average cost per period (DP),
    if known. ``exact_costs``: each policy's exact average cost (DP evaluation), where the DP could
    evaluate it.

    Per policy: every KPI's mean, ``ci95`` (half-width for ``avg_cost``) and ``ci95_<kpi>``; the paired
    difference of average cost to the best policy (``diff_to_best``, ``diff_to_best_ci95``) and to the
    simulated optimal policy when one was evaluated (``diff_to_optimal``, ``diff_to_optimal_ci95``);
    ``gap_pct`` = 100 (cost - optimum) / optimum, from the exact cost where the DP evaluated the policy
    (``gap_method: exact``), else from simulation (``simulated``; ``gap_ci95_pct`` its CI), else null.
    """
    exact_costs = exact_costs or {}
    names = list(dict.fromkeys(episodes["policy"]))
    by_policy = {n: episodes[episodes["policy"] == n].sort_values("episode") for n in names}
    seeds = {n: tuple(f["seed"]) for n, f in by_policy.items()}
    if len(set(seeds.values())) > 1:
        raise ValueError("policies were evaluated on different seeds; paired differences need common seeds")
    costs = {n: f["avg_cost"].to_numpy(float) for n, f in by_policy.items()}
    best = min(names, key=lambda n: (float(np.mean(costs[n])), names.index(n)))
    optimal = next((n for n in names if kinds.get(n) == "optimal"), None)
    out: dict[str, dict[str, Any]] = {}
    for n in sorted(names, key=lambda n: (float(np.mean(costs[n])), names.index(n))):
        f = by_policy[n]
        row: dict[str, Any] = {"kind": kinds.get(n), "episodes": len(f)}
        for kpi in KPIS:
            mean, half = nan_mean_ci(f[kpi].to_numpy(float)) if kpi in f else (math.nan, math.nan)
            row[kpi] = _num(mean)
            row["ci95" if kpi == "avg_cost" else f"ci95_{kpi}"] = _num(half)
        d, h = paired_difference(costs[n], costs[best])
        row["diff_to_best"], row["diff_to_best_ci95"] = d, h
        if optimal is not None:
            d_opt, h_opt = paired_difference(costs[n], costs[optimal])
            row["diff_to_optimal"], row["diff_to_optimal_ci95"] = d_opt, h_opt
        else:
            row["diff_to_optimal"] = row["diff_to_optimal_ci95"] = None
        exact = exact_costs.get(n)
        row["exact_cost"] = exact
        row.update(_gap(row, optimum_cost, exact, optimal is not None))
        out[n] = row
    return out


def _gap(row: dict[str, Any], optimum: float | None, exact: float | None, paired: bool) -> dict[str, Any]:
    """Gap to the optimum: exact where the DP evaluated the policy, else simulated.

    A simulated gap uses the paired difference to the simulated optimal policy when there is one (its
    CI is then the paired CI).
    """
    if optimum is None or optimum <= 0:
        return {"gap_pct": None, "gap_ci95_pct": None, "gap_method": None}
    if paired:
        sim_gap, sim_ci = _pct(row["diff_to_optimal"], optimum), _pct(row["diff_to_optimal_ci95"], optimum)
    else:
        sim_gap, sim_ci = _pct(row["avg_cost"] - optimum, optimum), _pct(row["ci95"] or 0.0, optimum)
    if exact is not None:
        return {"gap_pct": _pct(exact - optimum, optimum), "gap_ci95_pct": 0.0, "gap_method": "exact",
                "gap_pct_simulated": sim_gap}  # fmt: skip
    return {
        "gap_pct": sim_gap,
        "gap_ci95_pct": sim_ci,
        "gap_method": "simulated",
        "gap_pct_simulated": sim_gap,
    }


def _t_p_value(diff: float, half: float, n: int) -> float | None:
    """Two-sided p-value of the paired t-test of mean difference 0, from the mean and CI half-width.

    The half-width is t_{0.975, n-1} * s / sqrt(n) (:func:`paired_difference`), so the t statistic is
    t = diff / (half / t_{0.975, n-1}) and p = 2 P(T_{n-1} > |t|) (Law 2015, section 10.2.1).
    None with fewer than 2 episodes; 1 when every episode's difference is 0.
    """
    from scipy import stats as st

    if n < 2 or not (math.isfinite(diff) and math.isfinite(half)):
        return None
    if half == 0.0:  # every episode gives the same difference
        return 1.0 if diff == 0.0 else 0.0
    se = half / float(st.t.ppf(0.975, n - 1))
    return float(2.0 * st.t.sf(abs(diff) / se, n - 1))


def headline(table: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The answer a report opens with, from :func:`summarize_policies`' table (cheapest first).

    ``best``: the policy with the lowest mean cost on the common evaluation seeds, with its cost, CI and
    gap to the DP optimum (``gap_method`` exact / simulated / None). ``runner_up``: the second
    cheapest, and the paired difference runner-up minus best (``diff``, money per period) with its
    95% paired-t CI (``diff_low``, ``diff_high``), the two-sided ``p_value``, and ``significant``
    (the CI excludes 0; None with one episode or one policy). ``exact_diff`` is the difference of the
    two exact costs when the DP evaluated both policies (None otherwise). ``identical``: the two
    policies had the same cost on every episode.
    """
    names = list(table)
    best = table[names[0]]
    out: dict[str, Any] = {
        "best": names[0], "best_kind": best["kind"], "best_cost": best["avg_cost"],
        "best_ci95": best["ci95"], "best_gap_pct": best["gap_pct"], "best_gap_method": best["gap_method"],
        "best_exact_cost": best.get("exact_cost"), "episodes": best["episodes"],
        "runner_up": None, "runner_up_kind": None, "runner_up_cost": None, "runner_up_gap_pct": None,
        "runner_up_gap_method": None, "diff": None, "diff_ci95": None, "diff_low": None, "diff_high": None,
        "p_value": None, "significant": None, "identical": None, "exact_diff": None,
    }  # fmt: skip
    if len(names) < 2:
        return out
    second = table[names[1]]
    d, h = second["diff_to_best"], second["diff_to_best_ci95"]
    p = _t_p_value(d, h, best["episodes"])
    exact_a, exact_b = best.get("exact_cost"), second.get("exact_cost")
    out |= {
        "runner_up": names[1], "runner_up_kind": second["kind"], "runner_up_cost": second["avg_cost"],
        "runner_up_gap_pct": second["gap_pct"], "runner_up_gap_method": second["gap_method"],
        "diff": d, "diff_ci95": h, "diff_low": d - h, "diff_high": d + h, "p_value": p,
        "significant": None if p is None else bool(d - h > 0.0 or d + h < 0.0),
        "identical": bool(d == 0.0 and h == 0.0),
        "exact_diff": None if exact_a is None or exact_b is None else exact_b - exact_a,
    }  # fmt: skip
    return out


def difference_frame(table: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """The data behind the cost plot: each policy's paired cost difference to the best policy.

    One row per policy (cheapest first): ``diff`` = mean over episodes of cost_i - cost_best,i (money
    per period), ``ci95`` its paired-t half-width, ``low`` / ``high`` the interval, and ``exact_diff``
    the difference of the DP's exact costs where the DP evaluated both policies.
    """
    names = list(table)
    best_exact = table[names[0]].get("exact_cost") if names else None
    rows = []
    for n, r in table.items():
        d, h = r["diff_to_best"], r["diff_to_best_ci95"]
        exact = r.get("exact_cost")
        rows.append({
            "policy": n, "kind": r["kind"], "diff": d, "ci95": h, "low": d - h, "high": d + h,
            "exact_diff": None if exact is None or best_exact is None else exact - best_exact,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=["policy", "kind", "diff", "ci95", "low", "high", "exact_diff"])
