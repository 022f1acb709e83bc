"""``stocklab monitor``: join the decision log with what really happened, and flag what to re-tune.

Inputs: the decision log of ``stocklab serve`` (one line per decision, with ``sku`` and ``period``)
and a CSV of actuals with one row per SKU and period: ``sku, period, demand`` and optionally
``receipts`` (units that arrived at the start of that period). With the policy artefact (``--policy``)
the monitor also knows the cost rates, the lead time and the demand the policy was built for, and
predicts its cost and fill rate by simulating it in its own env.

Per SKU, period t (state after arrivals, order q_t, demand D_t; the env's timing, see ``InventoryEnv``):

- realised cost = K [q_t > 0] + c q_t + h x_t + p u_t, with x_t the stock left at the end of t and
  u_t the units lost (lost sales) or backordered at the end of t (backorders);
- fill rate = 1 - (units not served from stock) / demand; stock-out periods: some demand not served;
- forecast error e_t = F_t - D_t (F_t: the state's ``forecast_mean[0]``, else the policy's demand
  mean, else the mean of the first ``reference`` periods); bias = mean e; Trigg's tracking signal
  TS_t = E_t / M_t with E_t, M_t the exponentially smoothed (alpha = 0.1) error and absolute error,
  flagged when |TS| > 0.75 at the end of the history (about 1 % of unbiased histories; Trigg 1964,
  "Monitoring a forecasting system", *Operational Research Quarterly* 15);
- demand level shift: two-sided CUSUM of z_t = (D_t - mu) / sigma with reference k = 0.5 and decision
  interval h = 8 (Page 1954; Montgomery, *Introduction to Statistical Quality Control*, ch. 9); the
  change point is the last period the alarming sum was 0;
- lead time: orders matched first-in first-out to the receipts (after the units already on order at
  the first decision); flagged when the mean realised lead time exceeds the assumed one by > 0.5.

A SKU is listed for re-tuning (or re-training) when a drift flag is up, its realised cost per period
exceeds the predicted one by more than 25 %, or its fill rate is 5 points below the predicted one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stocklab.envs.config import EnvConfig, parse_env_config
from stocklab.envs.core.errors import DataError
from stocklab.envs.demand.history import read_csv_file
from stocklab.experiments.deploy.decision_log import read_decisions

CUSUM_K, CUSUM_H = 0.5, 8.0
TRACKING_ALPHA, TRACKING_LIMIT = 0.1, 0.75
LEAD_TIME_SLACK = 0.5
COST_SLACK = 0.25
FILL_SLACK = 0.05
#: Periods (and episodes) simulated to predict the policy's cost and fill rate.
PREDICT_PERIODS, PREDICT_EPISODES, PREDICT_WARMUP = 2000, 3, 100


@dataclass
class Assumptions:
    """What the policy was built for (None: unknown, learnt from the data where possible)."""

    env: EnvConfig | None = None
    demand_mean: float | None = None
    demand_std: float | None = None
    lead_time: float | None = None
    predicted: dict[str, float] | None = None


def load_decisions(path: str | Path) -> pd.DataFrame:
    """The decision log (and its rotated files) as a frame: one row per (sku, period), the last decision."""
    rows = []
    for file, no, r in read_decisions(path):
        if r.get("period") is None:
            raise DataError(f"{file}:{no}: decision without 'period'; send it in each state to monitor")
        state = r.get("state") or {}
        pipeline = state.get("pipeline") or []
        forecast = state.get("forecast_mean")
        rows.append({"time": r.get("time", 0.0), "sku": str(r.get("sku") or "-"), "period": int(r["period"]),
                     "order": int(r["order"]), "on_hand": float(state.get("on_hand", 0.0)),
                     "backlog": float(state.get("backlog", 0.0)), "on_order": float(sum(pipeline)),
                     "forecast": float(forecast[0]) if forecast else math.nan,
                     "policy_sha256": r.get("policy_sha256")})  # fmt: skip
    if not rows:
        raise DataError(f"{path}: no decisions in the log")
    frame = pd.DataFrame(rows).sort_values(["sku", "period", "time"])
    return frame.drop_duplicates(["sku", "period"], keep="last").reset_index(drop=True)


def load_actuals(path: str | Path) -> pd.DataFrame:
    """The actuals CSV: ``sku, period, demand[, receipts]`` (units per period, >= 0)."""
    frame = read_csv_file(Path(path), "actuals")
    missing = [c for c in ("sku", "period", "demand") if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)} (need sku, period, demand[, receipts])"
        )
    for col in ("period", "demand", "receipts"):
        if col in frame.columns:
            values = pd.to_numeric(frame[col], errors="coerce")
            bad = frame.index[values.isna() | (values < 0)]
            if len(bad):
                raise DataError(
                    f"{path}: row {bad[0] + 2}, column '{col}': {frame[col][bad[0]]!r} is not a number >= 0"
                )
            frame[col] = values
    frame["sku"] = frame["sku"].astype(str)
    frame["period"] = frame["period"].astype(int)
    return frame.drop_duplicates(["sku", "period"], keep="last")


def assumptions(policy_dir: str | Path | None) -> Assumptions:
    """Cost rates, lead time, demand and predicted KPIs of the artefact (empty without one)."""
    if policy_dir is None:
        return Assumptions()
    from stocklab.experiments.deploy.runtime import load_policy

    policy = load_policy(policy_dir)
    env = parse_env_config(policy.manifest["env_config"])
    mean = std = None
    if env.demand.stationary:
        m, s = env.demand.expected(0, 1)
        mean, std = float(m[0]), float(s[0])
    return Assumptions(env, mean, std, float(env.lead_time.mean), predict(policy, env))


def predict(policy: Any, env: EnvConfig) -> dict[str, float]:
    """Average cost per period, its components and the fill rate of the policy in its own env."""
    from stocklab.envs.core.policy import ActionMap
    from stocklab.envs.rollout import episode_infos
    from stocklab.experiments.analysis.kpis import EpisodeStats

    amap, ip = ActionMap.for_config(env), policy.obs_spec.index("inventory_position").start

    def act(obs: np.ndarray) -> int:
        return amap.action(int(policy.orders_from_observations(obs[None])[0]), float(obs[ip]))

    stats = EpisodeStats()
    for seed in range(PREDICT_EPISODES):
        for info in episode_infos(env, act, seed, PREDICT_PERIODS, PREDICT_WARMUP):
            stats.add(info)
    k = stats.kpis()
    keys = (
        "avg_cost",
        "holding_cost",
        "shortage_cost",
        "fixed_cost",
        "unit_cost",
        "fill_rate",
        "cycle_service_level",
    )
    return {key: float(k[key]) for key in keys}


def realised(sku: pd.DataFrame, env: EnvConfig | None) -> pd.DataFrame:
    """Per period: units short, end stock and the cost components (cost needs the env's rates)."""
    backorder = (env.unmet_demand == "backorder") if env is not None else bool((sku["backlog"] > 0).any())
    avail = sku["on_hand"] + (sku["order"] if env is not None and env.lead_time.mean == 0 else 0)
    d = sku["demand"]
    if backorder:
        served = np.minimum(np.maximum(avail - sku["backlog"], 0), d)
        net = avail - sku["backlog"] - d
        end, unmet = np.maximum(net, 0), np.maximum(-net, 0)
    else:
        served = np.minimum(avail, d)
        end, unmet = avail - served, d - served
    out = pd.DataFrame({"period": sku["period"], "short": d - served, "end_on_hand": end, "unmet": unmet})
    if env is not None:
        c = env.costs
        out["holding_cost"] = c.holding * end
        out["shortage_cost"] = c.shortage * unmet
        out["fixed_cost"] = c.fixed_order * (sku["order"] > 0)
        out["unit_cost"] = c.unit_order * sku["order"]
        out["cost"] = out[["holding_cost", "shortage_cost", "fixed_cost", "unit_cost"]].sum(axis=1)
    return out


def cusum_shift(demand: np.ndarray, mean: float, std: float) -> dict[str, Any]:
    """Two-sided CUSUM on standardised demand: the first alarm, its direction and change point."""
    z = (demand - mean) / max(std, 1e-9)
    hi = lo = 0.0
    last_zero_hi = last_zero_lo = -1
    for t, x in enumerate(z):
        hi, lo = max(0.0, hi + x - CUSUM_K), max(0.0, lo - x - CUSUM_K)
        last_zero_hi = t if hi == 0 else last_zero_hi
        last_zero_lo = t if lo == 0 else last_zero_lo
        if hi > CUSUM_H or lo > CUSUM_H:
            start = (last_zero_hi if hi > CUSUM_H else last_zero_lo) + 1
            return {"detected": True, "direction": "up" if hi > CUSUM_H else "down", "alarm_index": t,
                    "change_index": start, "before_mean": float(demand[:start].mean()) if start else mean,
                    "after_mean": float(demand[start:].mean())}  # fmt: skip
    return {"detected": False}


def realised_lead_times(sku: pd.DataFrame) -> tuple[list[float], int]:
    """Lead times (periods) of the orders matched FIFO to the receipts, and orders still open."""
    if "receipts" not in sku.columns or sku["receipts"].isna().all():
        return [], 0
    periods, orders = sku["period"].to_numpy(), sku["order"].to_numpy()
    receipts = sku["receipts"].fillna(0).to_numpy()
    # receipts of the first period are in its state already; the units on order then come in first
    received = np.cumsum(np.r_[0.0, receipts[1:]]) - sku["on_order"].iloc[0]
    ordered = np.cumsum(orders)
    times, still_open = [], 0
    for t in np.flatnonzero(orders > 0):
        arrived = np.flatnonzero(received >= ordered[t] - 1e-9)
        arrived = arrived[arrived > t]
        if len(arrived):
            times.append(float(periods[arrived[0]] - periods[t]))
        else:
            still_open += 1
    return times, still_open


def _tracking(errors: np.ndarray) -> np.ndarray:
    """Trigg's smoothed tracking signal over time: smoothed error / smoothed absolute error, in [-1, 1]."""
    e = m = 0.0
    out = np.empty(len(errors))
    for t, x in enumerate(errors):
        e = TRACKING_ALPHA * x + (1 - TRACKING_ALPHA) * e
        m = TRACKING_ALPHA * abs(x) + (1 - TRACKING_ALPHA) * m
        out[t] = e / m if m > 0 else 0.0
    return out


def sku_report(sku: pd.DataFrame, a: Assumptions, reference: int) -> tuple[dict[str, Any], pd.DataFrame]:
    """KPIs, drift flags and re-tune reasons of one SKU, and its per-period series (for plots)."""
    sku = sku.sort_values("period").reset_index(drop=True)
    d = sku["demand"].to_numpy(dtype=float)
    ref = d[: max(reference, 2)]
    mean = a.demand_mean if a.demand_mean is not None else float(ref.mean())
    std = (
        a.demand_std if a.demand_std is not None else float(max(ref.std(ddof=1), math.sqrt(max(mean, 1e-9))))
    )
    forecast = sku["forecast"].fillna(mean).to_numpy(dtype=float)
    errors = forecast - d
    ts = _tracking(errors)
    flows = realised(sku, a.env)
    shift = cusum_shift(d, mean, std)
    if shift["detected"]:
        shift["period"] = int(sku["period"].iloc[shift.pop("change_index")])
        shift["alarm_period"] = int(sku["period"].iloc[shift.pop("alarm_index")])
    times, still_open = realised_lead_times(sku)
    out: dict[str, Any] = {
        "periods": len(sku), "first_period": int(sku["period"].iloc[0]), "last_period": int(sku["period"].iloc[-1]),
        "demand_mean": float(d.mean()), "assumed_demand_mean": mean, "assumed_demand_std": std,
        "demand_total": float(d.sum()), "units_short": float(flows["short"].sum()),
        "fill_rate": float(1 - flows["short"].sum() / d.sum()) if d.sum() else 1.0,
        "stockout_periods": int((flows["short"] > 0).sum()),
        "forecast_mae": float(np.abs(errors).mean()), "forecast_bias": float(errors.mean()),
        "tracking_signal": float(ts[-1]), "demand_shift": shift,
        "lead_time": {"assumed": a.lead_time, "realised_mean": float(np.mean(times)) if times else None,
                      "orders_matched": len(times), "orders_open": still_open},
    }  # fmt: skip
    if "cost" in flows:
        out["cost"] = {
            k: float(flows[k].mean())
            for k in ("cost", "holding_cost", "shortage_cost", "fixed_cost", "unit_cost")
        }
    out["flags"], out["reasons"] = _flags(out, a)
    series = pd.DataFrame({"period": sku["period"], "demand": d, "forecast": forecast, "tracking_signal": ts,
                           "order": sku["order"], "cost": flows.get("cost", np.nan)})  # fmt: skip
    return out, series


def _flags(r: dict[str, Any], a: Assumptions) -> tuple[list[str], list[str]]:
    flags, reasons = [], []
    shift = r["demand_shift"]
    if shift["detected"]:
        flags.append("demand_shift")
        reasons.append(f"demand level shift {shift['direction']} from period {shift['period']} "
                       f"(mean {shift['before_mean']:.2f} -> {shift['after_mean']:.2f} units)")  # fmt: skip
    if abs(r["tracking_signal"]) > TRACKING_LIMIT:
        flags.append("forecast_bias")
        reasons.append(
            f"tracking signal {r['tracking_signal']:.1f} beyond ±{TRACKING_LIMIT:g} (bias {r['forecast_bias']:.2f})"
        )
    lt = r["lead_time"]
    if lt["assumed"] is not None and lt["realised_mean"] is not None and lt["orders_matched"] >= 3:
        if lt["realised_mean"] > lt["assumed"] + LEAD_TIME_SLACK:
            flags.append("lead_time")
            reasons.append(f"lead time {lt['realised_mean']:.2f} periods, assumed {lt['assumed']:g}")
    p = a.predicted
    if p is not None and "cost" in r and r["cost"]["cost"] > p["avg_cost"] * (1 + COST_SLACK):
        flags.append("cost")
        reasons.append(f"cost {r['cost']['cost']:.2f} per period, predicted {p['avg_cost']:.2f}")
    if p is not None and r["fill_rate"] < p["fill_rate"] - FILL_SLACK:
        flags.append("fill_rate")
        reasons.append(f"fill rate {r['fill_rate']:.3f}, predicted {p['fill_rate']:.3f}")
    return flags, reasons


def monitor(
    decisions: str | Path, actuals: str | Path, policy_dir: str | Path | None = None, reference: int = 30
) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """The monitoring report (JSON-ready) and each SKU's per-period series.

    ``reference``: periods at the start of each SKU's history whose demand stands in for the policy's
    demand assumption when the artefact is not given (or its demand is not stationary).
    """
    a = assumptions(policy_dir)
    dec, act = load_decisions(decisions), load_actuals(actuals)
    joined = dec.merge(act, on=["sku", "period"], how="inner")
    if joined.empty:
        raise DataError(f"{actuals}: no (sku, period) in common with the decisions in {decisions}")
    skus, series = {}, {}
    for name, group in joined.groupby("sku", sort=True):
        skus[str(name)], series[str(name)] = sku_report(group, a, reference)
    retune = sorted(s for s, r in skus.items() if r["flags"])
    costs = [r["cost"]["cost"] for r in skus.values() if "cost" in r]
    report = {
        "inputs": {"decisions": str(decisions), "actuals": str(actuals), "policy": str(policy_dir) if policy_dir else None,
                   "decisions_joined": len(joined), "decisions_without_actuals": len(dec) - len(joined),
                   "policy_sha256": sorted({str(x) for x in dec["policy_sha256"].dropna()})},
        "predicted": a.predicted,
        "overall": {"skus": len(skus), "periods": len(joined),
                    "cost_per_period": float(np.mean(costs)) if costs else None,
                    "fill_rate": 1 - sum(r["units_short"] for r in skus.values())
                    / max(sum(r["demand_total"] for r in skus.values()), 1e-9),
                    "flagged": {f: sorted(s for s, r in skus.items() if f in r["flags"])
                                for f in ("demand_shift", "forecast_bias", "lead_time", "cost", "fill_rate")}},
        "retune": retune,
        "skus": skus,
    }  # fmt: skip
    return report, series
