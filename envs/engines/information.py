"""Demand information (forecast mean and std of the next H periods) of the batched engine's points."""

from __future__ import annotations

from typing import Any

import numpy as np

from stocklab.envs.engines.params import BatchParams


class DemandInformation:
    """Demand information fields (``observation.information``) of B stocking points.

    Mean and std of periods t .. t + H - 1, tabulated per demand model and extended by doubling, as
    InventoryEnv does.
    """

    def __init__(self, params: BatchParams) -> None:
        self.horizon = params.forecast_horizon
        forecast = params.information == "forecast"
        slot: dict[int, int] = {}
        self.sources: list[Any] = []
        self.which = np.empty(params.size, dtype=np.int64)
        for i, c in enumerate(params.configs):
            if id(c.demand) not in slot:
                slot[id(c.demand)] = len(self.sources)
                self.sources.append(c.demand.forecast if forecast else c.demand.expected)
            self.which[i] = slot[id(c.demand)]
        self.mean = np.zeros((len(self.sources), 0))
        self.std = np.zeros((len(self.sources), 0))

    def at(self, period: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, H) means and stds of the H periods from each point's ``period``."""
        end = int(period.max()) + self.horizon
        have = self.mean.shape[1]
        if end > have:
            n = max(end, 2 * have, 256) - have
            new = [source(have, n) for source in self.sources]
            self.mean = np.concatenate([self.mean, [np.asarray(m, dtype=float) for m, _ in new]], axis=1)
            self.std = np.concatenate([self.std, [np.asarray(s, dtype=float) for _, s in new]], axis=1)
        cols = period[:, None] + np.arange(self.horizon)
        return self.mean[self.which[:, None], cols], self.std[self.which[:, None], cols]
