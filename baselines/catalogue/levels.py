"""Base-stock candidates of every SKU, scored once, then chosen for any prices on the shared limits.

The Lagrangian coordinator tunes each SKU's order-up-to level under priced costs: cost_i(S) +
lambda v_i X_i(S) + mu c_i q_i(S), where X_i(S) is the SKU's average stock on hand after arrivals
(or at the end of the period, under the ``overflow`` rule) and q_i(S) its average order. Those
averages do not depend on the prices, so :func:`score_levels` simulates every candidate level of
every SKU once (each SKU alone, without the shared limits: the relaxation's per-SKU problems) and
:meth:`LevelTable.choose` finds the best level of every SKU for any (lambda, mu) by an argmin over
a row: a search over the prices costs no further simulation.

Candidates: every level 0 .. top (top: the tuner's search box for base-stock,
:func:`stocklab.baselines.tuning.search.search_box`), or :data:`MAX_CANDIDATES` levels evenly spread
over it when it is wider. All candidates of a SKU run on the same demand streams (common random
numbers), all of them in one batched engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stocklab.baselines.catalogue.simulate import sku_seeds
from stocklab.baselines.policies.planning import lead_time_periods, period_pmf
from stocklab.baselines.tuning.search import search_box
from stocklab.envs.config import EnvConfig
from stocklab.envs.core.seeding import episode_seeds
from stocklab.envs.demand import pmf_moments
from stocklab.envs.engines.batched import BatchedEngine

#: Most candidate levels scored per SKU.
MAX_CANDIDATES = 48
#: Support (units) beyond which :func:`top_level` approximates the search box.
WIDE_PMF = 256


@dataclass
class LevelTable:
    """Candidate levels of N SKUs and their simulated long-run averages, as (N, K) arrays.

    Row i holds SKU i's candidates in increasing order, padded to K columns (``valid`` false, cost
    +inf). ``cost``: holding + shortage + order costs (money per period); ``stock``: units on hand
    after arrivals; ``end_stock``: units on hand at the end of the period; ``ordered``: units ordered
    per period.
    """

    levels: np.ndarray
    valid: np.ndarray
    cost: np.ndarray
    stock: np.ndarray
    end_stock: np.ndarray
    ordered: np.ndarray

    def priced(
        self, stock_price: np.ndarray, order_price: np.ndarray, measure: str = "arrival"
    ) -> np.ndarray:
        """Priced cost of every candidate ((N, K)): cost + pi_i X + kappa_i q, prices per SKU ((N,))."""
        held = self.stock if measure == "arrival" else self.end_stock
        return self.cost + stock_price[:, None] * held + order_price[:, None] * self.ordered

    def choose(
        self, stock_price: np.ndarray, order_price: np.ndarray, measure: str = "arrival"
    ) -> np.ndarray:
        """Column of the best candidate of each SKU ((N,) int); ties: the lower level."""
        return np.argmin(self.priced(stock_price, order_price, measure), axis=1)

    def pick(self, columns: np.ndarray, what: str = "levels") -> np.ndarray:
        """Entries ``what`` (levels, cost, stock, end_stock, ordered) at one column per SKU."""
        return getattr(self, what)[np.arange(len(columns)), columns]


def top_level(config: EnvConfig) -> int:
    """Highest candidate level (units): the tuner's search box, or its normal approximation for wide pmfs.

    The box (:func:`~stocklab.baselines.tuning.search.search_box`) convolves the per-period pmf L + 1
    times, which for demands of thousands of units (M3 series) costs about a second per SKU; past
    :data:`WIDE_PMF` units of support the 1 - 1e-4 quantile of the (L + 1)-period demand is taken as
    mean + 4 sd instead (capped at L + 1 times the largest demand), plus one period's mean.
    """
    pmf = period_pmf(config)
    if len(pmf) <= WIDE_PMF:
        return int(search_box(config, "base_stock")[0][1])
    mean, var = pmf_moments(pmf)
    cover = lead_time_periods(config) + 1
    quantile = min(cover * mean + 4.0 * math.sqrt(cover * var), cover * (len(pmf) - 1))
    return int(math.ceil(quantile + mean)) + 1


def candidates(config: EnvConfig, max_candidates: int = MAX_CANDIDATES) -> np.ndarray:
    """Candidate order-up-to levels of one SKU (units, increasing, starting at 0)."""
    top = top_level(config)
    if top + 1 <= max_candidates:
        return np.arange(top + 1)
    return np.unique(np.rint(np.linspace(0, top, max_candidates)).astype(np.int64))


def score_levels(
    configs: list[EnvConfig],
    *,
    episodes: int = 4,
    periods: int = 1000,
    warmup: int = 100,
    seed: int = 0,
    max_candidates: int = MAX_CANDIDATES,
    grids: list[np.ndarray] | None = None,
) -> LevelTable:
    """Simulate every candidate base-stock level of every SKU alone; the averages as a :class:`LevelTable`.

    ``episodes`` x ``periods`` measured periods per candidate (after ``warmup``), on the episode seeds
    of ``seed``; candidate k of SKU i in episode e draws its demand from the seed of (e, i), the same
    for all k (common random numbers). ``grids``: each SKU's candidate levels (default
    :func:`candidates`).
    """
    cands = grids if grids is not None else [candidates(cfg, max_candidates) for cfg in configs]
    n, k = len(configs), max(len(c) for c in cands)
    sku = np.concatenate([np.full(len(c), i) for i, c in enumerate(cands)])
    level = np.concatenate(cands)
    col = np.concatenate([np.arange(len(c)) for c in cands])
    batch = [configs[i] for i in sku] * episodes
    engine = BatchedEngine(batch)
    amap = engine.action_map
    levels_b = np.tile(level, episodes)
    seeds: list[int] = []
    for s in episode_seeds(seed, episodes):
        per_sku = sku_seeds(s, n)  # the seeds simulate() gives each SKU in an episode of seed s
        seeds.extend(per_sku[i] for i in sku)
    engine.reset(seeds)
    # with lead time 0 the order arrives before the demand: it is part of the stock after arrivals
    now = np.asarray([batch[b].lead_time.fixed == 0 for b in range(len(batch))])
    sums = np.zeros((4, len(batch)))
    for t in range(warmup + periods):
        ip = engine.inventory_position
        x = engine.on_hand
        q = amap.orders(amap.actions(np.maximum(levels_b - ip, 0), ip), ip)
        flows = engine.step(q)
        if t >= warmup:
            sums[0] += flows.cost
            sums[1] += x + np.where(now, flows.received, 0)
            sums[2] += flows.on_hand
            sums[3] += q
    means = sums.reshape(4, episodes, -1).mean(axis=1) / periods
    table = np.full((5, n, k), np.inf)
    table[1:] = 0.0
    table[0, sku, col] = means[0]
    for j in range(1, 4):
        table[j, sku, col] = means[j]
    levels = np.zeros((n, k), dtype=np.int64)
    levels[sku, col] = level
    valid = np.zeros((n, k), dtype=bool)
    valid[sku, col] = True
    # padding repeats a row's last level so that a picked column is always a level of the row
    last = np.array([len(c) - 1 for c in cands])
    for i in np.flatnonzero(last < k - 1):
        levels[i, last[i] + 1 :] = levels[i, last[i]]
    return LevelTable(levels, valid, table[0], table[1], table[2], table[3])


def best_levels(
    configs: list[EnvConfig],
    *,
    episodes: int = 4,
    periods: int = 1000,
    warmup: int = 100,
    seed: int = 0,
    max_candidates: int = MAX_CANDIDATES,
) -> tuple[np.ndarray, np.ndarray]:
    """Each SKU's best base-stock level and its simulated cost ((N,) each), all SKUs in one batch.

    A fast tuner for large catalogues: the candidates of :func:`candidates` first; where they are
    spaced more than one unit apart, a second round of up to ``max_candidates`` levels between the
    best one's neighbours. Every SKU is simulated alone (without the shared limits) on the same
    episode seeds as :func:`score_levels`, so the choice is exact for the simulated scenarios only
    when the candidates cover every level (narrow search boxes); otherwise it is within one
    candidate spacing of the second round.
    """

    def run(grids: list[np.ndarray] | None) -> LevelTable:
        return score_levels(
            configs, episodes=episodes, periods=periods, warmup=warmup, seed=seed,
            max_candidates=max_candidates, grids=grids,
        )  # fmt: skip

    table = run(None)
    col = np.argmin(table.cost, axis=1)
    rows = np.arange(len(configs))
    last = table.valid.sum(axis=1) - 1
    lo = table.levels[rows, np.maximum(col - 1, 0)]
    hi = table.levels[rows, np.minimum(col + 1, last)]
    if np.all(hi - lo <= 2):
        return table.levels[rows, col], table.cost[rows, col]
    grids = [np.unique(np.rint(np.linspace(a, b, max_candidates)).astype(np.int64)) for a, b in zip(lo, hi)]
    fine = run(grids)
    col = np.argmin(fine.cost, axis=1)
    return fine.levels[rows, col], fine.cost[rows, col]
