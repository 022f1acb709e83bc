"""The :class:`Catalogue`: N SKUs, one EnvConfig each, coupled by optional shared limits."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from stocklab.envs.catalogue.config import SharedLimits
from stocklab.envs.config import EnvConfig
from stocklab.envs.core.errors import ConfigError, did_you_mean


@dataclass(frozen=True, eq=False)
class Catalogue:
    """A catalogue of SKUs ready to simulate (what :func:`~stocklab.envs.catalogue.build.build_catalogue` makes).

    Per SKU i (arrays of shape (N,), in catalogue order):

    * ``configs[i]``: its stocking point (costs, lead time, demand model, max_order, ...);
    * ``volume[i]``: units of capacity per unit of stock (1 with ``measure: units``);
    * ``unit_cost[i]``: money per unit ordered, c_i (the budget's price; > 0);
    * ``priority[i]``: higher is served first by the ``priority`` rules;
    * ``demand_scale[i]``: mean demand per period on the train split (units, > 0; 1 where the train
      split has no demand); for inline SKUs the demand model's mean;
    * ``segments[name][i]``: labels (``syntetos_boylan``: class names; ``kmeans``: cluster numbers);
    * ``stats[name][i]``: ``demand_cv`` (std / mean) and ``zero_share`` of the train demand.

    ``shared`` holds the couplings (None: independent SKUs). ``periods``: the episode length the data
    fixes (the replayed test window), else None. History catalogues also carry ``source``, ``train``
    (each SKU's train periods, units) and ``test_start`` (ISO date); ``notes`` lists what the build
    changed or assumed.
    """

    skus: list[str]
    configs: list[EnvConfig]
    volume: np.ndarray
    unit_cost: np.ndarray
    priority: np.ndarray
    shared: SharedLimits | None
    segments: dict[str, np.ndarray]
    demand_scale: np.ndarray
    periods: int | None = None
    source: str = "inline"
    train: list[np.ndarray] | None = None
    test_start: str | None = None
    stats: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Number of SKUs."""
        return len(self.skus)

    def __len__(self) -> int:
        return len(self.skus)

    def index(self, sku: str) -> int:
        """Position of ``sku`` in the catalogue; ConfigError with a suggestion when unknown."""
        try:
            return self.skus.index(sku)
        except ValueError:
            raise ConfigError(f"no sku '{sku}' in the catalogue.{did_you_mean(sku, self.skus)}") from None

    def with_data(self, **changes: Any) -> Catalogue:
        """A copy with some fields replaced (segments, stats, source, ...)."""
        return replace(self, **changes)

    def subset(
        self, index: Sequence[int] | np.ndarray, shared: SharedLimits | None | str = "keep"
    ) -> Catalogue:
        """The catalogue of the SKUs ``index`` (positions or a boolean mask), in that order.

        ``shared="keep"`` keeps the limits as they are; pass other limits (or None) to change them,
        e.g. to split SKUs into a training set and a held-out set of a shared policy.
        """
        idx = np.asarray(index)
        idx = np.flatnonzero(idx) if idx.dtype == bool else idx.astype(np.int64).reshape(-1)
        if len(idx) == 0:
            raise ConfigError("a catalogue subset needs at least one SKU")
        pick = idx.tolist()
        return replace(
            self,
            skus=[self.skus[i] for i in pick],
            configs=[self.configs[i] for i in pick],
            volume=self.volume[idx], unit_cost=self.unit_cost[idx], priority=self.priority[idx],
            demand_scale=self.demand_scale[idx],
            shared=self.shared if shared == "keep" else shared,  # type: ignore[arg-type]
            segments={k: v[idx] for k, v in self.segments.items()},
            stats={k: v[idx] for k, v in self.stats.items()},
            train=None if self.train is None else [self.train[i] for i in pick],
        )  # fmt: skip

    def summary(self) -> dict[str, Any]:
        """JSON-ready overview: sizes, limits, the spread of demand scales, segment counts."""
        seg = {
            name: {str(k): int(v) for k, v in zip(*np.unique(labels.astype(str), return_counts=True))}
            for name, labels in self.segments.items()
        }
        return {
            "skus": self.size,
            "source": self.source,
            "test_start": self.test_start,
            "periods": self.periods,
            "shared": None if self.shared is None else self.shared.model_dump(exclude_none=True),
            "demand_scale": {
                "min": float(self.demand_scale.min()), "median": float(np.median(self.demand_scale)),
                "max": float(self.demand_scale.max()),
            },
            "segments": seg,
            "notes": list(self.notes),
        }  # fmt: skip


def sku_stats(train: list[np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``demand_scale`` (the mean, 1 when it is 0 or the split is empty) and demand stats of train series."""
    means = np.asarray([float(np.mean(y)) if len(y) else 0.0 for y in train])
    stds = np.asarray([float(np.std(y)) if len(y) else 0.0 for y in train])
    zeros = np.asarray([float(np.mean(y == 0)) if len(y) else 1.0 for y in train])
    cv = np.divide(stds, means, out=np.zeros_like(means), where=means > 0)
    scale = np.where(means > 0, means, 1.0)
    return scale, {"demand_cv": cv, "zero_share": zeros}


def sku_seeds(seed: int, skus: list[str]) -> list[int]:
    """The episode seed of each SKU in a catalogue episode seeded by ``seed``.

    Derived from the seed and the SKU's id (not its position), so a SKU sees the same demand in any
    catalogue that holds it under the same seed: a subset, another order, or the SKU alone.
    """
    out = []
    for sku in skus:
        key = int.from_bytes(hashlib.blake2b(sku.encode(), digest_size=8).digest(), "little")
        out.append(
            int(np.random.SeedSequence([int(seed), key]).generate_state(1, np.uint64)[0] >> np.uint64(1))
        )
    return out
