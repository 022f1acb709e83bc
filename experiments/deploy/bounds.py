"""Bounds on what an exported policy may ask of the machine that loads it, checked before allocating.

An artefact may come from anyone, and SHA-256 sums can be recomputed after an edit, so its contents
are checked against its declared kind and its env config before anything is built from them: a
base-stock level of 10^12, a discretiser of 10^9 bins or an observation of 10^9 entries is refused
with a PolicyError in microseconds instead of a multi-gigabyte allocation. The limits:

* env config: at most :data:`MAX_OBS_SIZE` observation entries, quantities (``max_order``,
  ``max_level``, ``capacity``, initial stock) at most :data:`MAX_UNITS`, a sales history only from the
  shipped sources (never a file path of the machine that exported it);
* classic parameters: stock levels within +-:func:`level_bound` (100 lead times of ``max_order``
  units above the initial stock), LP ``horizon`` <= 365, ``scenarios`` <= 1,000 and at most
  :data:`LP_MAX_CELLS` scenario periods, ``seed`` a 32-bit number, ``fractile`` in (0, 1);
* demand pmfs (newsvendor, LP, DP): (L + 1) x the largest per-period demand the pmf spans at most
  :data:`MAX_LEAD_DEMAND_SPAN` units (bounds the pmf and its L + 1 convolutions);
* tabular discretisers: at most :data:`MAX_TABLE_STATES` states and :data:`MAX_FEATURES` features.

The DP table's state count and the ONNX graph are checked in :mod:`~stocklab.experiments.deploy.arrays`
and :mod:`~stocklab.experiments.deploy.onnx_graph`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from stocklab.envs.config import EnvConfig
from stocklab.envs.core.errors import PolicyError
from stocklab.envs.core.obs import UNBOUNDED, ObsSpec

#: Most observation entries (pipeline, recent demand, forecasts) a deployed policy reads.
MAX_OBS_SIZE = 4096
#: Largest stock quantity (units) in an env config: the observation space's own bound.
MAX_UNITS = int(UNBOUNDED)
#: Largest greedy table of a tabular policy (states).
MAX_TABLE_STATES = 10_000_000
#: Most features of a tabular policy's discretiser.
MAX_FEATURES = 64
#: Largest (L + 1) x (top of the per-period demand pmf) (units) a pmf-based policy may need.
MAX_LEAD_DEMAND_SPAN = 100_000
#: Most scenario periods (scenarios x (horizon + L)) of an LP policy.
LP_MAX_CELLS = 50_000
#: Integer parameters with a fixed range (inclusive); every other numeric one is a stock level.
FIXED_RANGES: dict[str, tuple[int, int]] = {
    "horizon": (1, 365),
    "scenarios": (0, 1000),
    "seed": (0, 2**32 - 1),
}
#: Most parameters of a classic policy.
MAX_PARAMS = 16
#: Sales histories an artefact's env config may name (shipped with stocklab, of known size).
SHIPPED_HISTORIES = ("m3", "demo")


def n_actions(env: EnvConfig) -> int:
    """Size of the env's Discrete action space: max_order + 1, or max_level + 1 (order-up-to)."""
    top = env.action.max_level if env.action.mode == "order_up_to" else env.max_order
    return int(top or 0) + 1


def level_bound(env: EnvConfig) -> int:
    """Largest |stock level| (units) a classic policy may use.

    100 lead times of max_order units above the initial stock and the capacity, and at least max_level.
    """
    start = env.initial.on_hand + sum(env.initial.pipeline) + (env.capacity or 0)
    return max(100 * (env.pipeline_length + 2) * env.max_order + start, env.action.max_level or 0)


def check_env_data(data: Any, where: str) -> None:
    """Refuse an env config (raw JSON) that would read a file of the loading machine."""
    demand = data.get("demand") if isinstance(data, dict) else None
    while isinstance(demand, dict):
        path = demand.get("path")
        if path is not None and path not in SHIPPED_HISTORIES:
            raise PolicyError(
                f"{where}: env_config.demand.path {path!r}: an exported policy may name only the shipped "
                f"sales histories ({', '.join(SHIPPED_HISTORIES)}), never a file of this machine"
            )
        demand = demand.get("size")  # intermittent demand nests its size distribution


def check_env(env: EnvConfig, where: str) -> None:
    """Refuse an env config whose scale no deployed policy needs (see the module docstring)."""
    size = ObsSpec.for_config(env).size
    if size > MAX_OBS_SIZE:
        raise PolicyError(
            f"{where}: the observation has {size:,} entries; at most {MAX_OBS_SIZE:,} are allowed"
        )
    quantities = {
        "max_order": env.max_order,
        "action.max_level": env.action.max_level or 0,
        "capacity": env.capacity or 0,
        "initial.on_hand": env.initial.on_hand,
        "initial.backlog": env.initial.backlog,
        "initial.pipeline": sum(env.initial.pipeline),
    }
    for name, value in quantities.items():
        if value > MAX_UNITS:
            raise PolicyError(f"{where}: env_config.{name} (={value:,}) is above {MAX_UNITS:,} units")


def _demand_top(model: Any, tol: float) -> float:
    """The largest per-period demand (units) the model's pmf spans at tail mass ``tol``.

    Computed from the model's parameters without building the pmf (the same quantiles the pmf uses).
    """
    from scipy import stats

    dist = getattr(model, "dist", None)
    values = getattr(model, "values", None)
    if dist == "intermittent":
        return _demand_top(model.size, tol)
    if values:
        return float(max(values))
    mean = float(model.mean)
    if dist == "negative_binomial":
        disp = float(model.dispersion)
        return float(stats.nbinom(mean / (disp - 1.0), 1.0 / disp).ppf(1.0 - tol)) + 1
    if dist == "gamma":
        std = float(model.std)
        return float(stats.gamma((mean / std) ** 2, scale=std**2 / mean).ppf(1.0 - tol)) + 1
    if dist == "normal":
        return float(stats.norm(mean, float(model.std)).ppf(1.0 - tol)) + 1
    return float(stats.poisson(max(mean, 0.0)).ppf(1.0 - tol)) + 1  # poisson, and the fallback pmf


def check_demand_span(env: EnvConfig, where: str, tol: float = 1e-9, lead: int | None = None) -> None:
    """Refuse a demand whose pmf over L + 1 periods would span more than MAX_LEAD_DEMAND_SPAN units."""
    if lead is None:
        fixed = env.lead_time.fixed
        lead = int(fixed) if fixed is not None else int(round(env.lead_time.mean))
    top = _demand_top(env.demand, tol)
    span = (lead + 1) * (top + 1)
    if not math.isfinite(span) or span > MAX_LEAD_DEMAND_SPAN:
        raise PolicyError(
            f"{where}: the demand over L + 1 = {lead + 1} periods spans up to {span:,.0f} units; a deployed "
            f"pmf-based policy may span at most {MAX_LEAD_DEMAND_SPAN:,}"
        )


def _number(name: str, value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PolicyError(f"{where}: params.{name} (={value!r}) must be a finite number")
    return float(value)


def check_params(kind: str, params: Any, env: EnvConfig, where: str) -> dict[str, Any]:
    """Check the parameters of a ``params`` artefact against their bounds; return them."""
    if not isinstance(params, dict) or len(params) > MAX_PARAMS:
        raise PolicyError(f"{where}: params must be an object of at most {MAX_PARAMS} numbers")
    bound = level_bound(env)
    for name, value in params.items():
        x = _number(name, value, where)
        if name == "fractile":
            if not 0.0 < x < 1.0:
                raise PolicyError(f"{where}: params.fractile (={value!r}) must be in (0, 1)")
        elif name in FIXED_RANGES:
            lo, hi = FIXED_RANGES[name]
            if x != int(x) or not lo <= x <= hi:
                raise PolicyError(
                    f"{where}: params.{name} (={value!r}) must be a whole number in [{lo}, {hi}]"
                )
        elif abs(x) > bound:
            raise PolicyError(
                f"{where}: params.{name} (={value!r}) is outside [-{bound:,}, {bound:,}] units, the range "
                f"of stock levels for this env (100 lead times of max_order={env.max_order} units)"
            )
    if kind == "lp":
        _check_lp_size(params, env, where)
    if kind in ("lp", "newsvendor"):
        check_demand_span(env, where)
    return params


def _check_lp_size(params: Mapping[str, Any], env: EnvConfig, where: str) -> None:
    fixed = env.lead_time.fixed
    lead = int(fixed) if fixed is not None else int(round(env.lead_time.mean))
    horizon = int(params.get("horizon", max(8, 2 * (lead + 1))))
    cells = max(1, int(params.get("scenarios", 0))) * (horizon + lead)
    if cells > LP_MAX_CELLS:
        raise PolicyError(
            f"{where}: the LP plans {cells:,} scenario periods (scenarios x (horizon + L)); at most "
            f"{LP_MAX_CELLS:,} are allowed"
        )


_FEATURE_KEYS = {"name", "index", "weights", "low", "width", "bins", "ip_coef"}


def _check_feature(f: Any, k: int, obs_size: int, where: str) -> int:
    """Check feature ``k`` of a saved discretiser; return its number of bins."""
    label = f"{where}: features[{k}]"
    if not isinstance(f, dict) or set(f) != _FEATURE_KEYS:
        raise PolicyError(f"{label}: expected the keys {sorted(_FEATURE_KEYS)}")
    index, weights = f["index"], f["weights"]
    if not isinstance(index, list) or not 1 <= len(index) <= obs_size:
        raise PolicyError(f"{label}.index: expected 1 to {obs_size} observation indices")
    if not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < obs_size for i in index):
        raise PolicyError(f"{label}.index: {index!r} reaches outside the observation of size {obs_size}")
    if not isinstance(weights, list) or len(weights) != len(index):
        raise PolicyError(f"{label}.weights: expected one weight per index")
    for name, value in [*(("weights", w) for w in weights), ("low", f["low"]), ("width", f["width"])]:
        if abs(_number(f"features[{k}].{name}", value, where)) > MAX_UNITS:
            raise PolicyError(f"{label}.{name}: {value!r} is beyond {MAX_UNITS:,}")
    if not f["width"] > 0:
        raise PolicyError(f"{label}.width: {f['width']!r} must be > 0")
    bins = f["bins"]
    if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= MAX_TABLE_STATES:
        raise PolicyError(f"{label}.bins: {bins!r} must be a whole number in [1, {MAX_TABLE_STATES:,}]")
    if f["ip_coef"] not in (-1, 0, 1) or isinstance(f["ip_coef"], bool) or not isinstance(f["name"], str):
        raise PolicyError(f"{label}: ip_coef must be -1, 0 or 1 and name a string")
    return bins


def check_discretizer(record: Any, obs_size: int, where: str) -> int:
    """Check a saved discretiser (``GridDiscretizer.to_json``) before it is built; return its states."""
    if (
        not isinstance(record, dict)
        or record.get("kind") != "grid"
        or set(record) != {"kind", "obs_size", "features"}
    ):
        raise PolicyError(f"{where}: not a saved grid discretiser (keys kind, obs_size, features)")
    if record["obs_size"] != obs_size or isinstance(record["obs_size"], bool):
        raise PolicyError(
            f"{where}: obs_size (={record['obs_size']!r}) differs from the policy's observation size {obs_size}"
        )
    features = record["features"]
    if not isinstance(features, list) or not 1 <= len(features) <= MAX_FEATURES:
        raise PolicyError(f"{where}: expected 1 to {MAX_FEATURES} features")
    states = 1
    for k, f in enumerate(features):
        states *= _check_feature(f, k, obs_size, where)
        if states > MAX_TABLE_STATES:
            raise PolicyError(
                f"{where}: the discretiser has more than {MAX_TABLE_STATES:,} states (after feature {k}); "
                "a deployed table may not be larger"
            )
    return states
