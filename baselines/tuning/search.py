"""Tuning of classic policies: exact where theory allows, otherwise a search on common random numbers.

- ``base_stock`` with backorders, a fixed lead time and a stationary discrete demand pmf: the
  critical-fractile level (:func:`~stocklab.baselines.tuning.theory.fractile_base_stock`), exact.
- ``ss`` in the same setting: the Zheng-Federgruen algorithm
  (:func:`~stocklab.baselines.tuning.theory.zheng_federgruen`), exact.
- everything else (lost sales, random lead times, ``rq``, ``capped_base_stock``, capped orders or
  capacity): a coarse-to-fine grid search. Each candidate is scored exactly by the DP
  (``stocklab.baselines.exact.solver.evaluate_policy``) when the DP accepts the instance and its state space
  is small, else by simulation: every candidate runs on the same episode seeds
  (``stocklab.envs.core.seeding.episode_seeds``) through ``stocklab.envs.rollout.episode_costs`` (on the
  batched engine, all episodes at once, where it is exact), so the
  comparison between candidates is on common random numbers.

"Exact" also requires that the orders the policy wants fit ``max_order``: orders above the
1 - 1e-6 quantile of one period's demand (plus S - s - 1 for (s, S)) would be clipped, and then the
search is used instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

from stocklab.baselines.policies.classic import build_policy
from stocklab.baselines.policies.planning import (
    convolve_power,
    lead_time_periods,
    period_pmf,
    quantile_level,
)
from stocklab.baselines.tuning.theory import OnePeriodCost, fractile_base_stock, zheng_federgruen
from stocklab.envs.config import EnvConfig
from stocklab.envs.core.errors import ConfigError, PolicyError, did_you_mean
from stocklab.envs.core.seeding import episode_seeds
from stocklab.envs.rollout import episode_costs

#: Policy kinds :func:`tune` can tune, and the parameters it searches.
TUNABLE: dict[str, tuple[str, ...]] = {
    "base_stock": ("level",),
    "ss": ("s", "S"),
    "rq": ("r", "Q"),
    "capped_base_stock": ("level", "cap"),
}

#: Largest DP state space (``DPInstance.n_states``) for which the search scores candidates exactly.
EXACT_STATE_LIMIT = 1_000

#: Largest chain a candidate's exact evaluation may reach: this many states or 20 times the DP's.
EXACT_EVAL_STATES = 5_000

#: Seconds the exact scores of one search may take before it switches to simulation; a deadline
#: checked inside each evaluation (every level of the chain's enumeration, every power iteration),
#: so that one slow candidate cannot overrun it.
EXACT_TIME_BUDGET = 10.0

#: Progress callback: (candidates scored so far, total planned so far).
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class TuneResult:
    """Tuned parameters, their long-run average cost (money per period) and how it was obtained.

    ``ci95`` is the half-width of the 95% t-interval across episodes (0 for exact costs);
    ``evaluations`` counts the candidates scored; ``algorithm`` names the method in words.
    """

    params: dict[str, int]
    avg_cost: float
    ci95: float
    method: Literal["exact", "simulation"]
    evaluations: int
    algorithm: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def tune(
    config: EnvConfig,
    kind: str,
    *,
    episodes: int = 10,
    periods: int = 1000,
    warmup: int = 100,
    seed: int = 0,
    progress: Progress | None = None,
) -> TuneResult:
    """Best parameters of the ``kind`` policy for an env built from ``config``.

    ``episodes`` x ``periods`` (after ``warmup`` periods) on seeds from ``seed`` are the simulation
    budget per candidate when simulation is needed. Raises ConfigError for a kind that cannot be tuned.
    """
    if kind not in TUNABLE:
        raise ConfigError(
            f"tune: policy '{kind}' cannot be tuned.{did_you_mean(kind, TUNABLE)} Allowed: {', '.join(TUNABLE)}"
        )
    if episodes < 1 or periods < 1 or warmup < 0:
        raise ConfigError(f"tune: episodes (={episodes}) and periods (={periods}) must be >= 1, warmup >= 0")
    closed = _closed_form(config, kind)
    if closed is not None:
        return closed
    horizon = config.demand.horizon
    if horizon is not None and warmup >= horizon:
        # A replayed history that stops would end every episode inside the warm-up and score nothing.
        raise ConfigError(
            f"tune: warmup (={warmup}) must be shorter than the {horizon} periods of the replayed demand "
            "(env.demand.at_end: stop); lower the warm-up or replay with at_end: cycle"
        )
    return _search(
        config, kind, episodes=episodes, periods=periods, warmup=warmup, seed=seed, progress=progress
    )


# ----------------------------------------------------------------------------- exact formulas
def _theory_applies(config: EnvConfig) -> bool:
    """Backorders, a fixed lead time, a stationary discrete pmf and no storage capacity."""
    return (
        config.unmet_demand == "backorder"
        and config.lead_time.fixed is not None
        and config.demand.stationary
        and config.demand.pmf() is not None
        and config.capacity is None
    )


def _closed_form(config: EnvConfig, kind: str) -> TuneResult | None:
    if kind not in ("base_stock", "ss") or not _theory_applies(config):
        return None
    pmf = period_pmf(config)
    L = lead_time_periods(config)
    h, p, K, c = (
        config.costs.holding,
        config.costs.shortage,
        config.costs.fixed_order,
        config.costs.unit_order,
    )
    big_demand = quantile_level(pmf, 1.0 - 1e-6)
    unit = c * float(np.dot(np.arange(len(pmf)), pmf))  # every unit demanded is ordered once
    if kind == "base_stock":
        if big_demand > config.max_order:
            return None
        level = fractile_base_stock(pmf, L, h, p)
        G = OnePeriodCost(convolve_power(pmf, L + 1), h, p)
        cost = float(G(level) + K * (1.0 - pmf[0]) + unit)  # orders whenever last period's demand > 0
        return TuneResult({"level": level}, cost, 0.0, "exact", 1, "critical fractile p/(p+h)")
    if pmf[0] >= 1.0:
        return None
    s, S, cost = zheng_federgruen(pmf, L, h, p, K)
    if S - s - 1 + big_demand > config.max_order:
        return None
    return TuneResult({"s": s, "S": S}, cost + unit, 0.0, "exact", 1, "Zheng-Federgruen (1991)")


# ----------------------------------------------------------------------------- search
def search_box(config: EnvConfig, kind: str) -> list[tuple[int, int]]:
    """Inclusive integer ranges searched for each parameter of ``kind`` (units).

    Levels up to the 1 - 1e-4 quantile of the (L + 1)-period demand plus one period's mean; order
    sizes up to max_order, and for (s, S) / (r, Q) up to 2.5 EOQ + mean with EOQ = sqrt(2 K mean / h).
    (s, S) is searched as (s, S - s).
    """
    pmf = period_pmf(config)
    mean = float(np.dot(np.arange(len(pmf)), pmf))
    L = lead_time_periods(config)
    top = quantile_level(convolve_power(pmf, L + 1), 1.0 - 1e-4) + math.ceil(mean) + 1
    h = config.costs.holding if config.costs.holding > 0 else 1.0
    eoq = math.sqrt(2.0 * config.costs.fixed_order * mean / h)
    batch = max(2, min(config.max_order, math.ceil(2.5 * eoq + mean)))
    if kind == "base_stock":
        return [(0, top)]
    if kind == "capped_base_stock":
        per_period = quantile_level(pmf, 1.0 - 1e-4) + 1
        return [(0, top + L * math.ceil(mean)), (1, max(2, min(config.max_order, per_period)))]
    return [(-1, top), (1, batch)]  # ss: (s, S - s); rq: (r, Q)


def _to_params(kind: str, point: tuple[int, ...]) -> dict[str, int]:
    if kind == "ss":
        return {"s": point[0], "S": point[0] + point[1]}
    return dict(zip(TUNABLE[kind], point))


class _NotExact(Exception):
    """The DP cannot score this search (too many states, or too slow): simulate instead."""


def _exact_scorer(config: EnvConfig, kind: str) -> Callable[[dict[str, int]], float] | None:
    """Exact scoring by the DP when it accepts the instance and its state space is small.

    Raises :class:`_NotExact` from the scorer when a candidate reaches too many states (more than
    :data:`EXACT_EVAL_STATES` or 20 times the DP's) or when the exact scores together run past
    ``EXACT_TIME_BUDGET`` seconds, a deadline checked inside each evaluation.
    """
    try:
        from stocklab.baselines.exact.chain import UnboundedChainError
        from stocklab.baselines.exact.limits import Deadline, TimeLimitError
        from stocklab.baselines.exact.solver import DPInstance, evaluate_policy
    except ImportError:
        return None
    try:
        inst = DPInstance.from_config(config, max_states=EXACT_STATE_LIMIT)
    except ConfigError:  # out of the DP's scope, or more than EXACT_STATE_LIMIT states
        return None
    reach = max(EXACT_EVAL_STATES, 20 * inst.n_states)
    deadline = Deadline.after(EXACT_TIME_BUDGET)

    def score(params: dict[str, int]) -> float:
        policy = build_policy(kind, config, params)
        try:
            return float(evaluate_policy(inst, policy, max_states=reach, deadline=deadline))
        except UnboundedChainError:  # the backlog grows without bound: an infinite long-run cost
            return math.inf
        except (PolicyError, TimeLimitError):  # too many states reached, or out of time
            raise _NotExact from None

    return score


def _search(
    config: EnvConfig,
    kind: str,
    *,
    episodes: int,
    periods: int,
    warmup: int,
    seed: int,
    progress: Progress | None,
) -> TuneResult:
    exact = _exact_scorer(config, kind)
    if exact is not None:
        try:
            best, value, n_eval = grid_search(
                search_box(config, kind), lambda point: exact(_to_params(kind, point)), progress=progress
            )
            if not math.isfinite(value):
                raise _NotExact  # every candidate's backlog grows without bound: let simulation say
            return TuneResult(
                _to_params(kind, best), value, 0.0, "exact", n_eval, "grid search, exact DP evaluation"
            )
        except _NotExact:
            pass
    seeds = episode_seeds(seed, episodes)
    per_episode: dict[tuple[int, ...], np.ndarray] = {}

    def simulate(point: tuple[int, ...]) -> float:
        policy = build_policy(kind, config, _to_params(kind, point))
        costs = episode_costs(config, policy, seeds, periods, warmup)
        per_episode[point] = costs
        return float(costs.mean())

    best, _, n_eval = grid_search(search_box(config, kind), simulate, progress=progress)
    costs = per_episode[best]
    half = 0.0
    if len(costs) > 1:
        half = float(stats.t.ppf(0.975, len(costs) - 1) * costs.std(ddof=1) / math.sqrt(len(costs)))
    return TuneResult(
        _to_params(kind, best),
        float(costs.mean()),
        half,
        "simulation",
        n_eval,
        "grid search, common random numbers",
    )


def grid_search(
    box: list[tuple[int, int]],
    score: Callable[[tuple[int, ...]], float],
    points: int | None = None,
    progress: Progress | None = None,
) -> tuple[tuple[int, ...], float, int]:
    """Coarse-to-fine minimisation of ``score`` over the integer box (inclusive ranges).

    Each round scores a grid of ``points`` values per dimension (default 17 for one dimension, 9 for
    two), then shrinks the box to the best point +- one step and refines the step; rounds at step 1
    recentre on the best point until it is not on the edge of the local box. Returns the best point,
    its score and the number of distinct points scored.
    """
    points = points or (17 if len(box) == 1 else 9)
    cache: dict[tuple[int, ...], float] = {}
    lo = [a for a, _ in box]
    hi = [b for _, b in box]
    steps = [max(1, math.ceil((b - a) / (points - 1))) for a, b in box]
    rounds = 1 + sum(1 for _ in _refinements(max(steps), points))
    done = 0
    total = rounds * points ** len(box)
    local = [(a, b) for a, b in box]
    best: tuple[int, ...] | None = None
    for _ in range(rounds + 20):  # the extra rounds let a step-1 search walk to a minimum off the box
        axes = [np.unique(np.clip(np.arange(a, b + s, s), a, b)) for (a, b), s in zip(local, steps)]
        for point in np.array(np.meshgrid(*axes, indexing="ij")).reshape(len(box), -1).T:
            key = tuple(int(v) for v in point)
            if key not in cache:
                cache[key] = score(key)
            done += 1
            if progress is not None:
                progress(done, max(total, done))
        best = min(cache, key=lambda k: (cache[k], k))
        if max(steps) > 1:
            local = [
                (max(lo[d], best[d] - steps[d]), min(hi[d], best[d] + steps[d])) for d in range(len(box))
            ]
            steps = [max(1, math.ceil(2 * s / (points - 1))) for s in steps]
            continue
        on_edge = any(
            (best[d] == local[d][0] and best[d] > lo[d]) or (best[d] == local[d][1] and best[d] < hi[d])
            for d in range(len(box))
        )
        if not on_edge:
            break
        half = (points - 1) // 2
        local = [(max(lo[d], best[d] - half), min(hi[d], best[d] + half)) for d in range(len(box))]
        total += points ** len(box)
    assert best is not None
    return best, cache[best], len(cache)


def _refinements(step: int, points: int):  # noqa: ANN202 - a small generator
    while step > 1:
        step = max(1, math.ceil(2 * step / (points - 1)))
        yield step
