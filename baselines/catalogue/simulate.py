"""Simulate a catalogue policy on the batched engine: the loop that tuning and the benchmark share.

:func:`simulate` runs one episode per seed of the whole catalogue (every SKU at once, coupled by the
shared limits, :meth:`BatchedEngine.for_catalogue`) and returns per-episode averages over the
measured periods (after ``warmup``): the cost per SKU and in total (money per period), the share of
periods within the capacity (no arrival refused, no volume charged as overflow) and within the
budget (no order cut), and the average use of both limits. Each SKU draws its demand from its own
generator, spawned from the episode seed (SKU i's stream does not depend on the other SKUs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stocklab.envs.catalogue.policy import CataloguePolicy, CatalogueState
from stocklab.envs.engines.batched import BatchedEngine


@dataclass
class CatalogueRun:
    """Per-episode results of :func:`simulate` (arrays over episodes, in seed order).

    ``sku_cost`` (episodes, N): each SKU's average cost per period (money per period, including its
    share of any overflow charge); ``cost`` (episodes,): the catalogue's average cost per period;
    ``within_capacity`` / ``within_budget`` (episodes,): share of measured periods in which nothing
    was refused or charged as overflow / no order was cut; ``capacity_used`` (episodes,): average
    volume on hand after arrivals; ``budget_used`` (episodes,): average money ordered per period;
    ``refused`` (episodes,): units refused per period; ``periods``: measured periods per episode.
    """

    sku_cost: np.ndarray
    cost: np.ndarray
    within_capacity: np.ndarray
    within_budget: np.ndarray
    capacity_used: np.ndarray
    budget_used: np.ndarray
    refused: np.ndarray
    periods: int

    def summary(self) -> dict[str, float]:
        """Means over episodes (JSON-ready)."""
        return {
            "cost": float(self.cost.mean()),
            "within_capacity": float(self.within_capacity.mean()),
            "within_budget": float(self.within_budget.mean()),
            "capacity_used": float(self.capacity_used.mean()),
            "budget_used": float(self.budget_used.mean()),
            "refused": float(self.refused.mean()),
        }


def sku_seeds(seed: int, n: int) -> list[int]:
    """The per-SKU seeds of one catalogue episode: 64-bit ints from the ``n`` children of ``SeedSequence(seed)``."""
    return [int(c.generate_state(1, np.uint64)[0]) for c in np.random.SeedSequence(int(seed)).spawn(n)]


def simulate(
    catalogue: Any,
    policy: CataloguePolicy,
    seeds: Sequence[int],
    periods: int,
    warmup: int = 0,
) -> CatalogueRun:
    """Run ``policy`` on ``catalogue`` for each episode seed: ``warmup`` + ``periods`` periods each."""
    n = len(catalogue.configs)
    engine = BatchedEngine.for_catalogue(catalogue)
    shared = getattr(catalogue, "shared", None)
    cap = getattr(shared, "capacity", None)
    overflow_rule = cap is not None and cap.rule == "overflow"
    rows: list[tuple[np.ndarray, float, float, float, float, float, float]] = []
    for seed in seeds:
        engine.reset(sku_seeds(seed, n))
        policy.reset()
        acc = np.zeros(n)
        within_c = within_b = used = spent = refused = 0.0
        for t in range(warmup + periods):
            state = CatalogueState.of(engine, t)
            q = policy.orders(engine.observe(), state)
            flows = engine.step(q)
            if t < warmup:
                continue
            acc += flows.cost
            if cap is not None:
                used += float(flows.capacity_used or 0.0)
                over = (flows.overflow or 0.0) > 0 if overflow_rule else flows.refused.sum() > 0
                within_c += 0.0 if over else 1.0
                refused += float(flows.refused.sum())
            else:
                within_c += 1.0
            spent += float(flows.budget_used or 0.0)
            within_b += 0.0 if flows.cut is not None and flows.cut.any() else 1.0
        rows.append((acc / periods, within_c / periods, within_b / periods, used / periods,
                     spent / periods, refused / periods, float(acc.sum() / periods)))  # fmt: skip
    return CatalogueRun(
        sku_cost=np.array([r[0] for r in rows]),
        cost=np.array([r[6] for r in rows]),
        within_capacity=np.array([r[1] for r in rows]),
        within_budget=np.array([r[2] for r in rows]),
        capacity_used=np.array([r[3] for r in rows]),
        budget_used=np.array([r[4] for r in rows]),
        refused=np.array([r[5] for r in rows]),
        periods=periods,
    )
