"""Evaluate a catalogue policy per SKU, and a shared policy on its training vs held-out SKUs.

:func:`sku_costs` runs a :class:`~stocklab.envs.catalogue.policy.CataloguePolicy` on a catalogue (the
batched engine, every SKU at once, coupled by the shared limits) and returns each SKU's average cost
per period. Episodes are seeded as :class:`~stocklab.envs.catalogue_env.CatalogueVectorEnv` seeds
them: episode e's seed is the e-th draw of ``default_rng(SeedSequence(seed))`` and SKU i's stream
follows from it and the SKU's id, so a SKU sees the same demand in any catalogue that holds it.

:func:`generalization` is what a runner calls for the shared PPO policy's train vs held-out report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from stocklab.envs.catalogue.catalogue import Catalogue, sku_seeds
from stocklab.envs.catalogue.policy import CataloguePolicy, CatalogueState
from stocklab.envs.catalogue_env import level_orders
from stocklab.envs.engines.batched import BatchedEngine


def episode_seeds(seed: int, episodes: int) -> list[int]:
    """The catalogue episode seeds of an evaluation seeded by ``seed`` (as CatalogueVectorEnv draws them)."""
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)))
    return [int(rng.integers(2**63)) for _ in range(episodes)]


def sku_costs(
    policy: CataloguePolicy, catalogue: Catalogue, episodes: int, periods: int, seed: int
) -> np.ndarray:
    """(episodes, N) each SKU's average cost per period (money per period) under ``policy``."""
    engine = BatchedEngine.for_catalogue(catalogue)
    out = np.zeros((episodes, catalogue.size))
    for e, episode in enumerate(episode_seeds(seed, episodes)):
        engine.reset(sku_seeds(episode, catalogue.skus))
        policy.reset()
        for t in range(periods):
            q = policy.orders(engine.observe(), CatalogueState.of(engine, t))
            out[e] += engine.step(q).cost
    return out / periods


class _ConstantLevels(CataloguePolicy):
    """Every SKU raised to a fixed level (periods of demand): the grid reference's policy."""

    name = "constant_levels"

    def __init__(self, levels: np.ndarray, catalogue: Catalogue) -> None:
        self.levels, self.scale = levels, catalogue.demand_scale
        self.max_order = np.asarray([c.max_order for c in catalogue.configs], dtype=np.int64)

    def orders(self, obs: np.ndarray, state: CatalogueState) -> np.ndarray:
        return level_orders(self.levels, self.scale, state.inventory_position, self.max_order)


def grid_reference(
    catalogue: Catalogue, levels: np.ndarray, episodes: int, periods: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(best level, its cost) per SKU: the constant order-up-to level of the grid that costs least.

    Without shared limits the SKUs are independent and each sees the same demand at every level
    (common random numbers), so running the whole catalogue at level k gives every SKU's cost at k:
    len(levels) runs find each SKU's best constant level by brute force. Computed on the catalogue
    without its limits (a per-SKU reference, not a bound).
    """
    free = replace(catalogue, shared=None)
    costs = np.stack([
        sku_costs(_ConstantLevels(np.full(free.size, lv), free), free, episodes, periods, seed).mean(axis=0)
        for lv in levels
    ])  # fmt: skip
    best = costs.argmin(axis=0)
    return np.asarray(levels)[best], costs[best, np.arange(free.size)]


def generalization(
    policy: Any,
    catalogue: Catalogue,
    train_skus: Sequence[str],
    *,
    episodes: int = 4,
    periods: int | None = None,
    seed: int = 0,
    reference: bool = True,
) -> dict[str, Any]:
    """Train vs held-out SKU costs of a shared policy (``policy.bind(catalogue)`` decides for all SKUs).

    Returns a JSON-ready dict with, for ``train`` and ``heldout``: ``skus`` (count), ``cost`` (money per
    period, summed over the group's SKUs, with the catalogue's shared limits), ``normalized_cost``
    (mean over the group of cost / ((h + p) x demand scale)), and with ``reference``: the same policy
    and the per-SKU best constant grid level (:func:`grid_reference`) both without the limits,
    ``relaxed_cost``, ``reference_cost`` and ``gap`` = relaxed_cost / reference_cost - 1 (how far the
    shared policy is from a per-SKU tuned level, on SKUs it trained on vs SKUs it never saw), and
    ``independent_cost``: those per-SKU levels run together under the limits (the engine's rationing),
    the independent per-SKU baseline to compare ``cost`` with.
    """
    periods = int(periods or catalogue.periods or catalogue.configs[0].periods)
    bound = policy.bind(catalogue)
    cost = sku_costs(bound, catalogue, episodes, periods, seed).mean(axis=0)
    hp = np.asarray([c.costs.holding + c.costs.shortage for c in catalogue.configs])
    unit = np.where(hp > 0, hp, 1.0) * catalogue.demand_scale
    is_train = np.isin(np.asarray(catalogue.skus), list(train_skus))
    relaxed = ref = independent = None
    if reference:
        free = replace(catalogue, shared=None)
        relaxed = sku_costs(policy.bind(free), free, episodes, periods, seed).mean(axis=0)
        best, ref = grid_reference(catalogue, bound.network.levels, episodes, periods, seed)
        independent = sku_costs(_ConstantLevels(best, catalogue), catalogue, episodes, periods, seed).mean(
            axis=0
        )
    out: dict[str, Any] = {"episodes": episodes, "periods": periods, "seed": seed}
    for name, mask in (("train", is_train), ("heldout", ~is_train)):
        group: dict[str, Any] = {"skus": int(mask.sum())}
        if mask.any():
            group["cost"] = float(cost[mask].sum())
            group["normalized_cost"] = float((cost[mask] / unit[mask]).mean())
            if relaxed is not None and ref is not None and independent is not None:
                group["independent_cost"] = float(independent[mask].sum())
                group["relaxed_cost"] = float(relaxed[mask].sum())
                group["reference_cost"] = float(ref[mask].sum())
                group["gap"] = float(relaxed[mask].sum() / ref[mask].sum() - 1.0)
        out[name] = group
    return out
