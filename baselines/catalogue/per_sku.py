"""Per-SKU catalogue policies: one single-SKU classic policy per SKU, given, by default or tuned alone.

``{kind: per_sku, params: {base: base_stock}}`` applies the classic kind ``base`` to every SKU of a
catalogue. Each SKU's policy is built for its own :class:`EnvConfig` (its demand, costs, lead time):
from ``params`` when given (the same for every SKU), else from the kind's defaults (``newsvendor``,
``lp``: the critical fractile, forecast-driven when the observation carries forecasts), else tuned by
the single-SKU tuner :func:`stocklab.baselines.tuning.search.tune` on that SKU alone, with the same
seed for every SKU, on its training config (:func:`~stocklab.baselines.catalogue.training.training_catalogue`:
a replayed SKU replays its train split, never the test period). Tuning SKU i in a catalogue is therefore exactly ``tune(configs[i], base,
seed=seed)``: the relaxation ignores the shared limits, which the engine's rationing rules enforce
(the independent per-SKU baseline of issue 12).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from stocklab.baselines.catalogue.levels import best_levels
from stocklab.baselines.catalogue.rules import SkuRules
from stocklab.baselines.catalogue.training import training_catalogue
from stocklab.baselines.policies.classic import POLICIES, build_policy
from stocklab.baselines.tuning.search import TUNABLE, TuneResult, tune
from stocklab.envs.catalogue.policy import CataloguePolicy, CatalogueState
from stocklab.envs.config import EnvConfig
from stocklab.envs.core.errors import ConfigError, did_you_mean
from stocklab.envs.core.policy import Policy
from stocklab.envs.engines.params import batch_action_map, batch_layout

#: Progress callback: (SKUs done, SKUs in all).
Progress = Callable[[int, int], None]


class PerSkuPolicy(CataloguePolicy):
    """One classic policy per SKU (``policies[i]`` for SKU i), deciding for all SKUs at once.

    The orders are exactly those each SKU's own policy places on its own observation
    (:class:`~stocklab.baselines.catalogue.rules.SkuRules`); the shared limits are left to the
    engine's rules. ``info[i]`` records how SKU i's parameters were obtained.
    """

    exportable = "catalogue_params"

    def __init__(
        self,
        base: str,
        skus: Sequence[str],
        configs: Sequence[EnvConfig],
        policies: Sequence[Policy],
        info: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        if not (len(skus) == len(configs) == len(policies)):
            raise ValueError(f"per_sku: {len(skus)} SKUs, {len(configs)} configs, {len(policies)} policies")
        self.base = base
        self.name = f"per_sku_{base}"
        self.skus = list(skus)
        configs = list(configs)
        self.rules = SkuRules(policies, batch_action_map(configs), batch_layout(configs))
        self.info = [dict(i) for i in (info or [{} for _ in skus])]

    @property
    def policies(self) -> list[Policy]:
        """Each SKU's single-SKU policy, in catalogue order."""
        return self.rules.policies

    def reset(self) -> None:
        """Start a new episode for every SKU's policy."""
        self.rules.reset()

    def orders(self, obs: np.ndarray, state: CatalogueState | None = None) -> np.ndarray:
        """Units each SKU's policy orders ((N, obs_size) observations -> (N,) int64)."""
        return self.rules.orders(np.asarray(obs))

    def params(self) -> dict[str, Any]:
        """JSON-ready: the base kind and each SKU's parameters, by SKU id."""
        return {"base": self.base, "skus": dict(zip(self.skus, self.rules.params(), strict=True))}


def per_sku_policy(
    catalogue: Any,
    base: str,
    *,
    params: dict[str, Any] | None = None,
    episodes: int = 10,
    periods: int = 1000,
    warmup: int = 100,
    seed: int = 0,
    tuner: str = "single",
    progress: Progress | None = None,
) -> PerSkuPolicy:
    """The ``base`` kind applied to every SKU of ``catalogue`` (given, default or tuned parameters).

    ``params``: the same parameters for every SKU (as a single-SKU config entry's); when left out, a
    kind with defaults uses them and a tunable kind is tuned per SKU by :func:`tune` with budget
    ``episodes`` x ``periods`` after ``warmup``, on seeds from ``seed``. ``tuner: batch`` (base_stock
    only) tunes every SKU at once instead (:func:`~stocklab.baselines.catalogue.levels.best_levels`:
    one batched simulation of all SKUs' candidate levels, for catalogues of hundreds of SKUs).
    ConfigError for an unknown kind, or a kind that needs params and cannot be tuned.
    """
    if base not in POLICIES:
        raise ConfigError(
            f"per_sku: params.base '{base}' is not a single-SKU kind.{did_you_mean(base, POLICIES)} "
            f"Allowed: {', '.join(POLICIES)}"
        )
    if tuner not in ("single", "batch") or (tuner == "batch" and base != "base_stock"):
        raise ConfigError(f"per_sku: tuner '{tuner}' must be 'single', or 'batch' with base base_stock")
    configs = list(catalogue.configs)
    tuning = list(training_catalogue(catalogue).configs)
    if tuner == "batch" and not params:
        return _batch_base_stock(
            catalogue, tuning, episodes=episodes, periods=periods, warmup=warmup, seed=seed
        )
    tick = progress or (lambda done, total: None)
    policies: list[Policy] = []
    info: list[dict[str, Any]] = []
    for i, config in enumerate(tuning):  # built on what was known before the test period
        if params or base not in TUNABLE:
            policies.append(build_policy(base, config, dict(params or {})))
            info.append({"method": "given" if params else "default"})
        else:
            result = tune(config, base, episodes=episodes, periods=periods, warmup=warmup, seed=seed)
            policies.append(build_policy(base, config, dict(result.params)))
            info.append(_tuned(result, seed))
        tick(i + 1, len(configs))
    return PerSkuPolicy(base, list(catalogue.skus), configs, policies, info)


def _batch_base_stock(catalogue: Any, tuning: list[EnvConfig], **budget: int) -> PerSkuPolicy:
    levels, costs = best_levels(tuning, **budget)
    policies = [
        build_policy("base_stock", cfg, {"level": int(s)}) for cfg, s in zip(tuning, levels, strict=True)
    ]
    info = [
        {"method": "tuned", "tuning": "batch", "tuning_avg_cost": float(c), "tuning_seed": budget["seed"]}
        for c in costs
    ]
    return PerSkuPolicy("base_stock", list(catalogue.skus), list(catalogue.configs), policies, info)


def _tuned(result: TuneResult, seed: int) -> dict[str, Any]:
    return {
        "method": "tuned", "tuning": result.method, "tuning_avg_cost": result.avg_cost,
        "tuning_ci95": result.ci95, "tuning_seed": seed,
    }  # fmt: skip


def per_sku_from_params(catalogue: Any, saved: dict[str, Any]) -> PerSkuPolicy:
    """The policy :meth:`PerSkuPolicy.params` describes, rebuilt for ``catalogue`` (PolicyError if bad)."""
    base = saved.get("base")
    by_sku = saved.get("skus")
    if base not in POLICIES or not isinstance(by_sku, dict):
        raise ConfigError(f"per_sku: saved parameters need 'base' (one of {', '.join(POLICIES)}) and 'skus'")
    missing = [s for s in catalogue.skus if s not in by_sku]
    if missing:
        raise ConfigError(f"per_sku: no saved parameters for sku '{missing[0]}'")
    configs = list(catalogue.configs)
    policies = [
        build_policy(base, cfg, {k: v for k, v in by_sku[s].items() if v is not None})
        for s, cfg in zip(catalogue.skus, training_catalogue(catalogue).configs, strict=True)
    ]
    return PerSkuPolicy(str(base), list(catalogue.skus), configs, policies)


__all__ = ["PerSkuPolicy", "per_sku_from_params", "per_sku_policy"]
