"""Evaluate a catalogue policy on the batched engine: per-SKU results, per-period totals, a trace.

Every policy of a run is evaluated on the same SKUs and the same demand (the same per-SKU seeds for
each episode), so differences between policies are paired. Per episode and SKU the evaluation keeps
the sums of the measured periods (after ``warmup``); per period the catalogue totals the shared
limits need (volume on hand after arrivals, money ordered, units refused or cut, overflow); for the
first episode, each SKU's on-hand stock, demand, orders and lost or backordered units per period
(the report's trajectories of the worst SKUs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stocklab.envs.catalogue.catalogue import Catalogue
from stocklab.envs.catalogue.policy import CataloguePolicy, CatalogueState
from stocklab.envs.engines.batched import BatchedEngine

#: Per-SKU sums kept per episode (money for the costs, units for the rest; ``stockout_periods``:
#: periods with unmet demand, ``order_periods``: periods with an order placed).
SUM_FIELDS = (
    "holding_cost", "shortage_cost", "fixed_cost", "unit_cost", "overflow_cost", "demand", "sold", "lost",
    "backordered", "on_hand", "order", "refused", "cut", "stockout_periods", "order_periods",
)  # fmt: skip
#: Per-period catalogue totals.
PERIOD_FIELDS = ("capacity_used", "overflow", "budget_used", "budget_asked", "refused", "cut", "cost")
#: Per-SKU series of the first episode's trace.
TRACE_FIELDS = ("on_hand", "demand", "order", "unmet")


def sku_seeds(seed: int, catalogue: Catalogue) -> list[int]:
    """Per-SKU seeds of one episode: the catalogue's own scheme where it has one, else SeedSequence children."""
    from stocklab.envs.catalogue import catalogue as module

    by_id = getattr(module, "sku_seeds", None)
    if by_id is not None:
        return list(by_id(int(seed), list(catalogue.skus)))
    return [
        int(c.generate_state(1, np.uint64)[0] >> np.uint64(1))
        for c in np.random.SeedSequence(int(seed)).spawn(catalogue.size)
    ]


def state_of(engine: BatchedEngine, period: int) -> CatalogueState:
    """The shared-limit state a policy sees at ``period``."""
    of = getattr(CatalogueState, "of", None)
    if of is not None:
        return of(engine, period)
    sh = engine.shared
    return CatalogueState(  # type: ignore[call-arg]
        period=period, capacity_used=None if sh is None else float(sh.volume @ engine.on_hand),
        capacity=None if sh is None else sh.capacity, budget=None if sh is None else sh.budget,
    )  # fmt: skip


@dataclass
class Episode:
    """One episode of one policy: per-SKU sums (N,), per-period totals (T,), and the trace (T, N) or None."""

    seed: int
    periods: int
    sums: dict[str, np.ndarray]
    totals: dict[str, np.ndarray]
    trace: dict[str, np.ndarray] | None = None
    steps: list[int] = field(default_factory=list)


def run_episode(
    catalogue: Catalogue, policy: CataloguePolicy, seed: int, periods: int, warmup: int, trace: bool = False
) -> Episode:
    """Simulate ``warmup`` + ``periods`` periods of ``policy`` on ``catalogue`` from episode seed ``seed``."""
    engine = BatchedEngine.for_catalogue(catalogue)
    engine.reset(sku_seeds(seed, catalogue))
    policy.reset()
    n = catalogue.size
    sums = {k: np.zeros(n) for k in SUM_FIELDS}
    totals = {k: np.zeros(periods) for k in PERIOD_FIELDS}
    series = {k: np.zeros((periods, n), dtype=np.int64) for k in TRACE_FIELDS} if trace else None
    measured = 0
    for t in range(warmup + periods):
        if bool(np.any(engine.terminated)):
            break  # a replayed history has run out
        q = np.asarray(policy.orders(engine.observe(), state_of(engine, t)), dtype=np.int64)
        f = engine.step(q)
        if t < warmup:
            continue
        k = t - warmup
        _add(sums, f)
        for name in ("capacity_used", "overflow", "budget_used", "budget_asked"):
            totals[name][k] = float(getattr(f, name) or 0.0)
        totals["refused"][k], totals["cut"][k] = f.refused.sum(), 0 if f.cut is None else f.cut.sum()
        totals["cost"][k] = f.cost.sum()
        if series is not None:
            series["on_hand"][k], series["demand"][k], series["order"][k] = f.on_hand, f.demand, f.order
            series["unmet"][k] = f.lost + f.backordered
        measured = k + 1
    totals = {k: v[:measured] for k, v in totals.items()}
    if series is not None:
        series = {k: v[:measured] for k, v in series.items()}
    steps = list(getattr(policy, "steps", []) or [])
    return Episode(int(seed), measured, sums, totals, series, steps[warmup:])


def _add(sums: dict[str, np.ndarray], f: Any) -> None:
    for name in ("holding_cost", "shortage_cost", "fixed_cost", "unit_cost", "demand", "lost", "backordered",
                 "on_hand", "order", "refused"):  # fmt: skip
        sums[name] += getattr(f, name)
    sums["sold"] += f.demand - f.lost - f.backordered  # served from stock in its period
    if f.overflow_cost is not None:
        sums["overflow_cost"] += f.overflow_cost
    if f.cut is not None:
        sums["cut"] += f.cut
    sums["stockout_periods"] += (f.lost + f.backordered) > 0
    sums["order_periods"] += f.order > 0


def evaluate(
    catalogue: Catalogue, policy: CataloguePolicy, seeds: Sequence[int], periods: int, warmup: int
) -> list[Episode]:
    """One :class:`Episode` per seed (the first with its trace)."""
    return [run_episode(catalogue, policy, s, periods, warmup, trace=i == 0) for i, s in enumerate(seeds)]


def simulate_cost(
    catalogue: Catalogue, policy: CataloguePolicy, seeds: Sequence[int], periods: int, warmup: int
) -> float:
    """Average catalogue cost per period (money) of ``policy`` over the episodes ``seeds``."""
    costs = []
    for s in seeds:
        ep = run_episode(catalogue, policy, s, periods, warmup)
        costs.append(float(ep.totals["cost"].mean()) if ep.periods else 0.0)
    return float(np.mean(costs))
