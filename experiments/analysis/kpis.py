"""KPIs of evaluation episodes: per-episode sums and their mean with a 95% CI across episodes."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats


@dataclass
class EpisodeStats:
    """Sums over the measured periods of one episode (after warm-up)."""

    periods: int = 0
    cost: float = 0.0
    holding_cost: float = 0.0
    shortage_cost: float = 0.0
    fixed_cost: float = 0.0
    unit_cost: float = 0.0
    demand: int = 0
    served_from_stock: int = 0
    stockout_periods: int = 0
    on_hand: float = 0.0
    backlog: float = 0.0
    orders: int = 0
    ordered_units: int = 0
    order_series: list[int] = field(default_factory=list)
    demand_series: list[int] = field(default_factory=list)
    # forecast errors e = forecast - demand, for envs whose info carries the period's ``forecast``
    forecasts: int = 0
    forecast_abs_error: float = 0.0
    forecast_sq_error: float = 0.0
    forecast_error: float = 0.0
    forecast_ape: float = 0.0
    forecast_ape_periods: int = 0

    def add(self, info: dict[str, Any]) -> None:
        """Account one period's ``info`` dict (from InventoryEnv.step)."""
        self.periods += 1
        self.cost += info["cost"]
        self.holding_cost += info["holding_cost"]
        self.shortage_cost += info["shortage_cost"]
        self.fixed_cost += info["fixed_cost"]
        self.unit_cost += info["unit_cost"]
        d = info["demand"]
        short = info["lost"] + info["backordered"]
        self.demand += d
        self.served_from_stock += d - short
        self.stockout_periods += short > 0
        self.on_hand += info["on_hand"]
        self.backlog += info["backlog"]
        self.orders += info["order"] > 0
        self.ordered_units += info["order"]
        self.order_series.append(info["order"])
        self.demand_series.append(d)
        forecast = info.get("forecast")
        if forecast is not None:
            e = float(forecast) - d
            self.forecasts += 1
            self.forecast_abs_error += abs(e)
            self.forecast_sq_error += e * e
            self.forecast_error += e
            if d > 0:
                self.forecast_ape += abs(e) / d
                self.forecast_ape_periods += 1

    def kpis(self) -> dict[str, float]:
        """Per-period averages and ratios of the episode."""
        n = max(self.periods, 1)
        var_d = float(np.var(self.demand_series)) if self.demand_series else 0.0
        var_q = float(np.var(self.order_series)) if self.order_series else 0.0
        return {
            "avg_cost": self.cost / n,
            "holding_cost": self.holding_cost / n,
            "shortage_cost": self.shortage_cost / n,
            "fixed_cost": self.fixed_cost / n,
            "unit_cost": self.unit_cost / n,
            "fill_rate": self.served_from_stock / self.demand if self.demand else 1.0,
            "cycle_service_level": 1.0 - self.stockout_periods / n,
            "avg_on_hand": self.on_hand / n,
            "avg_backlog": self.backlog / n,
            "order_frequency": self.orders / n,
            "mean_order_size": self.ordered_units / self.orders if self.orders else 0.0,
            "bullwhip": var_q / var_d if var_d > 0 else math.nan,
            **self.forecast_kpis(),
        }

    def forecast_kpis(self) -> dict[str, float]:
        """Forecast accuracy over the measured periods (NaN when the env gives no forecasts).

        MAE, RMSE, bias (mean forecast - demand) and MAPE in % over periods with demand > 0
        (Hyndman & Koehler 2006, "Another look at measures of forecast accuracy").
        """
        n = self.forecasts
        if not n:
            return {k: math.nan for k in ("forecast_mae", "forecast_rmse", "forecast_bias", "forecast_mape")}
        mape = (
            100.0 * self.forecast_ape / self.forecast_ape_periods if self.forecast_ape_periods else math.nan
        )
        return {
            "forecast_mae": self.forecast_abs_error / n,
            "forecast_rmse": math.sqrt(self.forecast_sq_error / n),
            "forecast_bias": self.forecast_error / n,
            "forecast_mape": mape,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready sums (without the series)."""
        d = asdict(self)
        d.pop("order_series")
        d.pop("demand_series")
        return d


def mean_ci(values: list[float] | np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the Student-t confidence interval (0 for a single value)."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return float(x.mean()) if len(x) else math.nan, 0.0
    half = stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean()), float(half)


def summarize(episodes: list[EpisodeStats]) -> dict[str, Any]:
    """Mean of every KPI across episodes; ``ci95`` is the half-width for ``avg_cost``."""
    per_episode = [e.kpis() for e in episodes]
    out: dict[str, Any] = {}
    for key in per_episode[0]:
        out[key] = float(np.mean([k[key] for k in per_episode]))
    out["avg_cost"], out["ci95"] = mean_ci([k["avg_cost"] for k in per_episode])
    out["episodes"] = len(episodes)
    out["periods"] = episodes[0].periods
    return out
