"""The catalogue that catalogue policies are tuned on: never the replayed test period itself.

A history catalogue replays each SKU's test period (``demand: replay``, stopping at its end): tuning
on it would fit the policy to the very demand it is scored on, and a short test window (18 periods
for the M3 micro series) leaves no room for a warm-up. :func:`training_catalogue` swaps each
replayed SKU's demand for a replay of its train split that cycles (``at_end: cycle``), so that
tuning may simulate as many periods as it likes on what was known before the test period.
Forecast-fed and stationary SKUs are kept: their scenarios are drawn on training seeds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stocklab.envs.demand.history import ReplayDemand


def training_catalogue(catalogue: Any) -> Any:
    """``catalogue`` with each replayed SKU replaying its train split in a cycle (the same object if none is)."""
    train = getattr(catalogue, "train", None)
    configs = []
    changed = False
    for i, cfg in enumerate(catalogue.configs):
        demand = cfg.demand
        if getattr(demand, "dist", None) == "replay":
            values = demand.values
            if train is not None and len(train[i]) > 0 and float(np.sum(train[i])) > 0:
                values = [int(v) for v in np.maximum(np.rint(np.asarray(train[i], dtype=float)), 0)]
            cfg = cfg.model_copy(
                update={"demand": ReplayDemand(dist="replay", values=values, at_end="cycle")}
            )
            changed = True
        configs.append(cfg)
    if not changed:
        return catalogue
    return catalogue.with_data(configs=configs, periods=None)


__all__ = ["training_catalogue"]
