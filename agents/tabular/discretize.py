"""Observation vector -> state index, for the tabular agents.

A :class:`GridDiscretizer` is a list of features. Feature f reads a weighted sum x_f of observation
entries (units), puts it in bin b_f = clip(floor((x_f - low_f) / width_f), 0, bins_f - 1) and the state
index is the mixed-radix number sum_f b_f * prod_{g > f} bins_g. Two layouts are built from an env
config (``kind`` in the ``discretizer`` hyper-parameters):

* ``exact``: one feature per on_hand, backlog and pipeline entry, width 1: every integer state up to
  the caps is its own state (right for short lead times: for Poisson(5), L = 2 about 700 states).
* ``bucket``: the inventory position in buckets of ``ip_width`` units plus the pipeline summed into
  ``pipeline_groups`` groups of consecutive entries, each in buckets of ``pipeline_width`` units (for
  long lead times, where the exact state space explodes).
* ``auto``: ``exact`` when it has at most ``max_states`` states, else ``bucket``.

Values beyond a feature's range fall into its first or last bin; ``recent_demand`` is ignored.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field, NonNegativeInt, PositiveInt

from stocklab.envs.config import EnvConfig
from stocklab.envs.core.errors import PolicyError
from stocklab.envs.core.obs import ObsSpec
from stocklab.envs.core.schema import StrictModel

#: Observations cached by the fast encoder before it stops adding entries (bounds memory).
CACHE_LIMIT = 1_000_000


class DiscretizerConfig(StrictModel):
    """The ``discretizer`` hyper-parameters of a tabular agent (stock quantities in units).

    Unset caps default from the env config: ``max_inventory_position`` =
    ceil(mu (L + 1) + 3 sigma sqrt(L + 1)) + 1 for per-period demand mean mu and standard deviation
    sigma and the longest lead time L; ``on_hand_max`` = that position, ``pipeline_max`` =
    min(max_order, position), ``backlog_max`` = ceil(mu (L + 1)).
    """

    kind: Literal["auto", "exact", "bucket"] = "auto"
    max_states: PositiveInt = 200_000
    max_inventory_position: NonNegativeInt | None = None
    on_hand_max: NonNegativeInt | None = None
    pipeline_max: NonNegativeInt | None = None
    backlog_max: NonNegativeInt | None = None
    ip_width: PositiveInt = 1
    pipeline_groups: NonNegativeInt = Field(default=1, le=16)
    pipeline_width: PositiveInt = 2


@dataclass(frozen=True)
class Feature:
    """One coordinate of the grid: x = sum_i weights[i] * obs[index[i]], binned by (low, width, bins).

    ``ip_coef`` is the weight of x in the inventory position (1 for on_hand, pipeline entries and the
    inventory position, -1 for backlog, 0 for pipeline groups read beside the inventory position).
    """

    name: str
    index: tuple[int, ...]
    weights: tuple[float, ...]
    low: float
    width: float
    bins: int
    ip_coef: int

    def __post_init__(self) -> None:
        if self.bins < 1 or self.width <= 0 or len(self.index) != len(self.weights) or not self.index:
            raise PolicyError(f"discretizer feature {self.name}: invalid layout {asdict(self)}")


class GridDiscretizer:
    """Maps observation vectors to state indices 0 .. n_states - 1 on a grid of binned features."""

    def __init__(self, features: list[Feature], obs_size: int) -> None:
        if not features:
            raise PolicyError("discretizer: at least one feature is needed")
        if any(i < 0 or i >= obs_size for f in features for i in f.index):
            raise PolicyError(f"discretizer: feature index outside an observation of size {obs_size}")
        self.features = list(features)
        self.obs_size = obs_size
        bins = np.array([f.bins for f in features], dtype=np.int64)
        self.n_states = int(np.prod(bins))
        self._bins = bins
        self._strides = np.array([int(np.prod(bins[k + 1 :])) for k in range(len(bins))], dtype=np.int64)
        weights = np.zeros((len(features), obs_size))
        for k, f in enumerate(features):
            weights[k, list(f.index)] = f.weights
        self._weights = weights
        self._low = np.array([f.low for f in features])
        self._width = np.array([f.width for f in features])

    # --------------------------------------------------------------- encoding
    def encode(self, observation: np.ndarray) -> int:
        """State index of one observation vector."""
        x = self._weights @ np.asarray(observation, dtype=np.float64)
        b = np.clip(np.floor((x - self._low) / self._width + 1e-9), 0, self._bins - 1).astype(np.int64)
        return int(b @ self._strides)

    def encoder(self) -> Callable[[np.ndarray], int]:
        """A fast ``encode`` for training loops: memoised on the observation's bytes.

        Observations of an integer-valued env repeat, so after warm-up an encode is one dict lookup.
        """
        cache: dict[bytes, int] = {}
        slow = self.encode

        def encode(observation: np.ndarray) -> int:
            key = observation.tobytes()
            s = cache.get(key)
            if s is None:
                s = slow(observation)
                if len(cache) < CACHE_LIMIT:
                    cache[key] = s
            return s

        return encode

    def bins_of(self, state: int) -> list[int]:
        """The bin of every feature for ``state`` (the inverse of the mixed-radix index)."""
        return [int(state // st % n) for st, n in zip(self._strides, self._bins)]

    def inventory_positions(self) -> np.ndarray:
        """Lower end of the inventory position (units) of every state, shape (n_states,).

        For the exact layout this is the state's inventory position; for buckets, the bucket's low end.
        """
        grids = np.indices(tuple(self._bins)).reshape(len(self.features), -1)
        ip = np.zeros(self.n_states)
        for k, f in enumerate(self.features):
            if f.ip_coef:
                ip += f.ip_coef * (f.low + grids[k] * f.width)
        return ip

    # ---------------------------------------------------------- persistence
    def to_json(self) -> dict[str, Any]:
        """JSON-ready description (saved beside the Q-table)."""
        return {"kind": "grid", "obs_size": self.obs_size, "features": [asdict(f) for f in self.features]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GridDiscretizer:
        """Rebuild a discretiser saved by :meth:`to_json`; PolicyError if the record is malformed."""
        try:
            feats = [
                Feature(
                    str(f["name"]), tuple(int(i) for i in f["index"]), tuple(float(w) for w in f["weights"]),
                    float(f["low"]), float(f["width"]), int(f["bins"]), int(f["ip_coef"]),
                )
                for f in data["features"]
            ]  # fmt: skip
            return cls(feats, int(data["obs_size"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise PolicyError(f"discretizer: malformed saved record ({exc})") from None

    def __repr__(self) -> str:
        inner = ", ".join(f"{f.name}:{f.bins}x{f.width:g}" for f in self.features)
        return f"GridDiscretizer({inner}; {self.n_states} states)"


def default_caps(config: EnvConfig) -> dict[str, int]:
    """Default caps (units) of the discretiser and action mask for an env config (see DiscretizerConfig)."""
    demand = config.demand
    mu = float(demand.mean)
    pmf = demand.pmf()
    if pmf is not None:
        k = np.arange(len(pmf))
        var = float(pmf @ (k - pmf @ k) ** 2)
    else:
        var = mu
    cover = math.ceil(config.lead_time.upper) + 1
    ip = math.ceil(cover * mu + 3.0 * math.sqrt(cover * var)) + 1
    return {
        "max_inventory_position": ip,
        "on_hand_max": ip,
        "pipeline_max": min(config.max_order, ip),
        "backlog_max": math.ceil(cover * mu),
    }


def _exact(spec: ObsSpec, caps: dict[str, int]) -> list[Feature]:
    feats = [Feature("on_hand", (spec.index("on_hand").start,), (1.0,), 0.0, 1.0, caps["on_hand_max"] + 1, 1)]
    if spec.has("backlog"):
        feats.append(
            Feature("backlog", (spec.index("backlog").start,), (1.0,), 0.0, 1.0, caps["backlog_max"] + 1, -1)
        )
    if spec.has("pipeline"):
        sl = spec.index("pipeline")
        for k, i in enumerate(range(sl.start, sl.stop)):
            feats.append(Feature(f"pipeline[{k}]", (i,), (1.0,), 0.0, 1.0, caps["pipeline_max"] + 1, 1))
    return feats


def _bucket(spec: ObsSpec, cfg: DiscretizerConfig, caps: dict[str, int]) -> list[Feature]:
    low = -float(caps["backlog_max"]) if spec.has("backlog") else 0.0
    span = caps["max_inventory_position"] - low
    ip_bins = math.ceil((span + 1) / cfg.ip_width)
    ip_i = spec.index("inventory_position").start
    feats = [Feature("inventory_position", (ip_i,), (1.0,), low, float(cfg.ip_width), ip_bins, 1)]
    if spec.has("pipeline") and cfg.pipeline_groups:
        sl = spec.index("pipeline")
        entries = list(range(sl.start, sl.stop))
        groups = [g.tolist() for g in np.array_split(entries, min(cfg.pipeline_groups, len(entries)))]
        for k, group in enumerate(groups):
            top = caps["pipeline_max"] * len(group)
            bins = math.ceil((top + 1) / cfg.pipeline_width)
            w = float(cfg.pipeline_width)
            feats.append(Feature(f"pipeline_group[{k}]", tuple(group), (1.0,) * len(group), 0.0, w, bins, 0))
    return feats


def build_discretizer(
    config: EnvConfig, spec: ObsSpec, cfg: DiscretizerConfig | None = None
) -> tuple[GridDiscretizer, int]:
    """The discretiser chosen by ``cfg`` for envs built from ``config``, and the ordering cap.

    The cap is the inventory position (units) above which the action mask forbids ordering.
    """
    cfg = cfg or DiscretizerConfig()
    caps = default_caps(config)
    if cfg.max_inventory_position is not None:  # the other caps follow the position cap unless set
        caps["max_inventory_position"] = caps["on_hand_max"] = cfg.max_inventory_position
        caps["pipeline_max"] = min(config.max_order, cfg.max_inventory_position)
    for key in ("on_hand_max", "pipeline_max", "backlog_max"):
        value = getattr(cfg, key)
        if value is not None:
            caps[key] = int(value)
    exact = _exact(spec, caps)
    n_exact = math.prod(f.bins for f in exact)
    kind = cfg.kind
    if kind == "auto":
        kind = "exact" if n_exact <= cfg.max_states else "bucket"
    grid = GridDiscretizer(exact if kind == "exact" else _bucket(spec, cfg, caps), spec.size)
    if grid.n_states > cfg.max_states:
        raise PolicyError(
            f"discretizer.kind '{kind}': {grid.n_states} states exceed max_states (={cfg.max_states}); "
            "widen the buckets, use fewer pipeline_groups or lower the caps"
        )
    return grid, caps["max_inventory_position"]
