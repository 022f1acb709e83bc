"""Build the catalogue policies a config lists, tuned on scenarios that never see the evaluated demand.

**Tuning scenarios.** A catalogue whose SKUs all have stationary demand is tuned on its own demand
models (other seeds than the evaluation's). A history catalogue (``demand: replay`` or
``forecast_fed``) is tuned on each SKU's *train-split* demand distribution (the empirical pmf of its
train periods, :func:`tuning_catalogue`), so a replay of the test period is a true backtest.

**Kinds.**

* ``per_sku`` ``base: base_stock``: each SKU's order-up-to level minimising its own long-run cost,
  from every candidate level simulated alone (:func:`~stocklab.baselines.catalogue.levels.score_levels`);
  the engine's pro-rata (or priority) rule rations what the shared limits refuse.
* ``per_sku`` ``base: capped_base_stock``: the same levels, each order capped at k periods of the
  SKU's mean demand, with one k for the catalogue chosen on the coupled tuning scenarios (k in
  :data:`CAP_GRID`; ``params.caps`` overrides the grid).
* ``lagrangian``: the coordinator (:func:`~stocklab.baselines.catalogue.fit.fit_coordinator`).
* ``newsvendor``: each SKU's critical-fractile level of its demand over L + 1 periods.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from stocklab.envs.catalogue.catalogue import Catalogue
from stocklab.envs.catalogue.policy import CataloguePolicy, CatalogueState
from stocklab.envs.core.errors import ConfigError
from stocklab.envs.core.obs import ObsSpec
from stocklab.envs.core.policy import ActionMap
from stocklab.envs.demand.stationary import EmpiricalDemand
from stocklab.envs.engines.params import batch_action_map, batch_layout
from stocklab.experiments.run.catalogue.config import CatalogueExperiment, CataloguePolicyConfig

#: Caps tried by ``capped_base_stock`` (periods of mean demand; None: uncapped).
CAP_GRID: tuple[float | None, ...] = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, None)


class RulesPolicy(CataloguePolicy):
    """One single-SKU policy per SKU (a :class:`~stocklab.baselines.catalogue.rules.SkuRules`) as a catalogue policy."""

    exportable = "catalogue_params"

    def __init__(self, name: str, rules: Any, info: dict[str, Any] | None = None) -> None:
        self.name = name
        self.rules = rules
        self.info = dict(info or {})

    def reset(self) -> None:
        """Start a new episode for every SKU's policy."""
        self.rules.reset()

    def orders(self, obs: np.ndarray, state: CatalogueState | None = None) -> np.ndarray:
        """Units each SKU's own policy orders (the shared limits are left to the engine's rules)."""
        return self.rules.orders(np.asarray(obs))

    def params(self) -> dict[str, Any]:
        """The single-SKU kind, per-SKU parameters in catalogue order, and how they were chosen."""
        return {"base": self.rules.policies[0].name, "per_sku": self.rules.params(), "info": self.info}


def tuning_catalogue(catalogue: Catalogue) -> Catalogue:
    """The catalogue the policies are tuned on: stationary SKUs as they are, history SKUs on their train pmf.

    ConfigError when a SKU has neither a stationary demand model nor train periods.
    """
    if all(c.demand.stationary for c in catalogue.configs):
        return catalogue
    if catalogue.train is None:
        raise ConfigError("catalogue: SKUs with non-stationary demand need a sales history to tune on")
    configs = []
    for config, train in zip(catalogue.configs, catalogue.train):
        values, counts = np.unique(np.rint(np.asarray(train, dtype=float)).clip(0), return_counts=True)
        if len(values) == 0:
            values, counts = np.array([0.0]), np.array([1])
        probs = (counts / counts.sum()).tolist()
        probs[-1] = 1.0 - sum(probs[:-1])  # exact sum for the model's check
        demand = EmpiricalDemand(dist="empirical", values=[int(v) for v in values], probs=probs)
        configs.append(config.model_copy(update={"demand": demand}))
    return catalogue.with_data(configs=configs, periods=None)


def _layout(catalogue: Catalogue) -> tuple[ActionMap, ObsSpec]:
    return batch_action_map(list(catalogue.configs)), batch_layout(list(catalogue.configs))


def _rules(catalogue: Catalogue, make: Any, name: str, info: dict[str, Any]) -> RulesPolicy:
    from stocklab.baselines.catalogue.rules import SkuRules

    amap, spec = _layout(catalogue)
    per_sku = [
        make(i, c, ObsSpec.for_config(c), ActionMap.for_config(c)) for i, c in enumerate(catalogue.configs)
    ]
    return RulesPolicy(name, SkuRules(per_sku, amap, spec), info)


def sku_levels(tcat: Catalogue, exp: CatalogueExperiment) -> np.ndarray:
    """Each SKU's best base-stock level alone (units), on the tuning scenarios."""
    from stocklab.baselines.catalogue.levels import score_levels

    t = exp.evaluation.tuning
    table = score_levels(
        list(tcat.configs), episodes=t.episodes, periods=t.periods, warmup=t.warmup, seed=t.seed
    )
    zero = np.zeros(tcat.size)
    return table.pick(table.choose(zero, zero))


def base_stock(tcat: Catalogue, exp: CatalogueExperiment, name: str, levels: np.ndarray) -> RulesPolicy:
    """Per-SKU base-stock at ``levels``."""
    from stocklab.baselines.policies.classic import BaseStock

    return _rules(
        tcat, lambda i, c, s, a: BaseStock(s, a, int(levels[i])), name,
        {"tuned_on": "each SKU alone", "levels": [int(x) for x in levels]},
    )  # fmt: skip


def capped(tcat: Catalogue, levels: np.ndarray, name: str, k: float | None) -> RulesPolicy:
    """Per-SKU base-stock at ``levels`` with orders capped at ceil(k x mean demand) units (k None: no cap)."""
    from stocklab.baselines.policies.classic import CappedBaseStock

    caps = [
        int(c.max_order) if k is None else max(1, math.ceil(k * float(m)))
        for c, m in zip(tcat.configs, tcat.demand_scale)
    ]
    return _rules(
        tcat, lambda i, c, s, a: CappedBaseStock(s, a, int(levels[i]), caps[i]), name,
        {"cap_periods": k, "levels": [int(x) for x in levels], "caps": caps},
    )  # fmt: skip


def newsvendor(tcat: Catalogue, name: str) -> RulesPolicy:
    """Per-SKU newsvendor levels from each SKU's demand distribution (critical fractile p / (p + h))."""
    from stocklab.baselines.policies.classic import Newsvendor

    return _rules(tcat, lambda i, c, s, a: Newsvendor.from_config(c), name, {"fractile": "p / (p + h)"})


def lagrangian(tcat: Catalogue, exp: CatalogueExperiment, spec: CataloguePolicyConfig) -> CataloguePolicy:
    """The Lagrangian coordinator fitted on the tuning scenarios."""
    from stocklab.baselines.catalogue.fit import fit_coordinator

    t = exp.evaluation.tuning
    target = float(spec.params.get("target", 0.99))
    exact = spec.params.get("exact")  # largest per-SKU DP (states) whose optimal orders replace a level
    policy = fit_coordinator(
        tcat, episodes=t.episodes, periods=t.periods, warmup=t.warmup, seed=t.seed, target=target,
        calibration=(t.episodes, t.periods), exact=None if exact is None else int(exact),
    )  # fmt: skip
    policy.name = spec.name
    return policy


def build_policy(
    catalogue: Catalogue, exp: CatalogueExperiment, spec: CataloguePolicyConfig
) -> CataloguePolicy:
    """The built (tuned) catalogue policy ``spec`` of experiment ``exp`` on ``catalogue``."""
    tcat = tuning_catalogue(catalogue)
    if spec.kind == "lagrangian":
        return lagrangian(tcat, exp, spec)
    if spec.kind == "newsvendor":
        return newsvendor(tcat, spec.name)
    if spec.kind == "shared_ppo":
        return _shared_ppo(tcat, exp, spec)
    levels = sku_levels(tcat, exp)
    if spec.params.get("base", "base_stock") == "base_stock":
        return base_stock(tcat, exp, spec.name, levels)
    return _tune_cap(tcat, exp, spec, levels)


def _tune_cap(
    tcat: Catalogue, exp: CatalogueExperiment, spec: CataloguePolicyConfig, levels: np.ndarray
) -> RulesPolicy:
    """The capped base-stock policy whose common cap k costs least on the coupled tuning scenarios."""
    from stocklab.envs.core.seeding import episode_seeds
    from stocklab.experiments.run.catalogue.evaluate import simulate_cost

    t = exp.evaluation.tuning
    grid = spec.params.get("caps", CAP_GRID)
    seeds = episode_seeds(t.seed + 7, t.episodes)
    scores = {
        k: simulate_cost(tcat, capped(tcat, levels, spec.name, k), seeds, t.periods, t.warmup) for k in grid
    }
    best = min(scores, key=lambda k: scores[k])
    policy = capped(tcat, levels, spec.name, best)
    policy.info["tried"] = {str(k): v for k, v in scores.items()}
    return policy


def _shared_ppo(
    catalogue: Catalogue, exp: CatalogueExperiment, spec: CataloguePolicyConfig
) -> CataloguePolicy:
    """The shared PPO network trained on the tuning scenarios (some SKUs held out), in a scratch folder."""
    import tempfile

    from stocklab.agents.catalogue.kind import SHARED_PPO

    seed = spec.train.seed if spec.train.seed is not None else exp.evaluation.tuning.seed
    with tempfile.TemporaryDirectory(prefix="stocklab-shared-ppo-") as work:
        policy, info = SHARED_PPO.build_for(catalogue, spec, int(seed), work)
    policy.name = spec.name
    policy.info = info  # type: ignore[attr-defined]
    return policy
