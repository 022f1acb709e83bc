"""Evaluation episodes as the run's tables: ``catalogue_episodes.csv`` and ``catalogue_periods.csv``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from stocklab.envs.catalogue.catalogue import Catalogue
from stocklab.experiments.run.catalogue.evaluate import Episode

#: Columns of ``catalogue_episodes.csv``: one row per policy x episode x SKU (money per period for
#: costs, units for quantities, per-period averages where named ``avg_``).
EPISODE_COLUMNS = (
    "policy", "kind", "episode", "seed", "sku", "segment", "cluster", "periods", "avg_cost", "holding_cost",
    "shortage_cost", "fixed_cost", "unit_cost", "overflow_cost", "demand", "sold", "lost", "backordered",
    "fill_rate", "stockout_periods", "avg_on_hand", "ordered", "order_periods", "refused", "cut", "unit_value",
    "volume",
)  # fmt: skip
#: Columns of ``catalogue_periods.csv``: one row per policy x episode x measured period.
PERIOD_COLUMNS = (
    "policy", "episode", "period", "capacity_used", "overflow", "budget_used", "budget_asked", "refused",
    "cut", "cost",
)  # fmt: skip


def episode_rows(name: str, kind: str, episodes: list[Episode], catalogue: Catalogue) -> pd.DataFrame:
    """Per-SKU rows of every episode of one policy."""
    seg = catalogue.segments.get("syntetos_boylan")
    cluster = catalogue.segments.get("kmeans")
    frames = []
    for e, ep in enumerate(episodes):
        per = max(ep.periods, 1)
        s = ep.sums
        demand = s["demand"]
        frame: dict[str, Any] = {
            "policy": name, "kind": kind, "episode": e, "seed": ep.seed, "sku": list(catalogue.skus),
            "segment": list(seg) if seg is not None else "all",
            "cluster": list(cluster) if cluster is not None else -1, "periods": ep.periods,
        }  # fmt: skip
        comps = ("holding_cost", "shortage_cost", "fixed_cost", "unit_cost", "overflow_cost")
        for c in comps:
            frame[c] = s[c] / per
        frame["avg_cost"] = sum(s[c] for c in comps) / per
        for c in ("demand", "sold", "lost", "backordered", "refused", "cut"):
            frame[c] = s[c].astype(np.int64)
        frame["fill_rate"] = np.divide(s["sold"], demand, out=np.ones_like(demand), where=demand > 0)
        frame["stockout_periods"] = s["stockout_periods"].astype(np.int64)
        frame["avg_on_hand"] = s["on_hand"] / per
        frame["ordered"] = s["order"].astype(np.int64)
        frame["order_periods"] = s["order_periods"].astype(np.int64)
        frame["unit_value"] = np.asarray(catalogue.unit_cost, dtype=float)
        frame["volume"] = np.asarray(catalogue.volume, dtype=float)
        frames.append(pd.DataFrame(frame))
    return pd.concat(frames, ignore_index=True)[list(EPISODE_COLUMNS)]


def period_rows(name: str, episodes: list[Episode]) -> pd.DataFrame:
    """Per-period catalogue totals of every episode of one policy."""
    frames = []
    for e, ep in enumerate(episodes):
        frame = {"policy": name, "episode": e, "period": np.arange(ep.periods)}
        frame.update({k: v for k, v in ep.totals.items()})
        frames.append(pd.DataFrame(frame))
    return pd.concat(frames, ignore_index=True)[list(PERIOD_COLUMNS)]


def trace_frame(name: str, episode: Episode, catalogue: Catalogue, skus: list[int]) -> pd.DataFrame:
    """Long table of the first episode's trajectories of SKUs ``skus`` (positions): policy, sku, period, fields."""
    assert episode.trace is not None
    frames = []
    for i in skus:
        frame = {"policy": name, "sku": catalogue.skus[i], "period": np.arange(episode.periods)}
        frame.update({k: v[:, i] for k, v in episode.trace.items()})
        frames.append(pd.DataFrame(frame))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
