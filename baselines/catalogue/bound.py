"""A lower bound on a catalogue's optimal long-run cost: per-SKU DP optima under Lagrangian prices.

**The relaxation.** A catalogue of N SKUs is coupled only by its shared limits, which hold in every
period t: the capacity, sum_i v_i X_it <= C (X_it: the stock of SKU i that the capacity measures,
v_i its volume per unit), and the budget, sum_i c_i q_it <= B (q_it: units ordered, c_i the unit
cost). Any policy that keeps them in every period keeps them on average as well,
E[sum_i v_i X_i] <= C and E[sum_i c_i q_i] <= B (long-run averages). Dropping the per-period limits
for the average ones can only lower the optimal cost; pricing the average ones with lambda >= 0 per
unit of volume per period and mu >= 0 per unit of money, for any policy that keeps them::

    cost(policy) >= cost(policy) + lambda (E[sum v_i X_i] - C) + mu (E[sum c_i q_i] - B)
                  = sum_i E[cost_i + lambda v_i X_i + mu c_i q_i] - lambda C - mu B
                 >= sum_i g_i*(lambda v_i, mu c_i) - lambda C - mu B  =:  L(lambda, mu),

where g_i*(pi, kappa) is the optimal long-run average cost of SKU i alone with a price pi per unit of
X and a surcharge kappa per unit ordered (:func:`~stocklab.baselines.catalogue.priced.priced_optimum`,
the exact DP of :mod:`stocklab.baselines.exact`): the sum separates because the priced objective is
a sum over SKUs and the SKUs' demands are independent of one another and of the policy, so no
policy of the catalogue does better on SKU i than the best policy of SKU i alone. This is weak
duality (Everett 1963, Operations Research 11(3); Altman 1999, *Constrained Markov Decision
Processes*, ch. 3), and L is concave in (lambda, mu) as a sum of minima of affine functions, so
:func:`lagrangian_bound` maximises it with bisection on its supergradient
(sum_i v_i E[X_i] - C, sum_i c_i E[q_i] - B under the per-SKU optimal policies). Every evaluated
point is a valid bound; the best one is returned, with the concavity estimate of how much higher
the maximum could be (``dual_gap``).

**What X is.** The refusal rules (``pro_rata``, ``priority``) keep the stock on hand after each
batch of arrivals at or below C, so X is that stock (``measure="arrival"``); this prices more than
the end-of-period stock of the design note (X >= the stock left at the end of the period, so the
bound is tighter and still valid). Under ``overflow`` nothing is refused and the charge is
``overflow_cost`` per unit of volume held above C at the end of the period, which is at least
lambda (sum v_i I_i - C) for every lambda in [0, overflow_cost]: X is the end-of-period stock I and
lambda is capped at the overflow cost (the bound then holds for every policy).

**Scope.** Refused units are gone: a policy that orders more than fits and lets the refusal rule
top the warehouse up uses a free disposal that no single SKU has, so the bound is proven for the
policies whose arrivals the capacity never refuses (the coordinator's target), and is reported
beside every policy's refusals. The bound needs a stationary demand pmf and a fixed lead time for
every SKU, and per-SKU DPs within ``max_states``; elsewhere ``applies=False`` with the reason.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from stocklab.baselines.catalogue.priced import Measure, PricedOptimum, priced_optimum
from stocklab.baselines.exact.limits import Deadline
from stocklab.baselines.exact.model import DPInstance
from stocklab.envs.config import EnvConfig
from stocklab.envs.core.errors import StocklabError

#: Largest DP per SKU the bound solves (states); each is solved once per price tried.
BOUND_MAX_STATES = 100_000
#: Relative dual gap (``dual_gap / |value|``) at which the search over a price stops.
RTOL = 1e-4
#: Most evaluations of the dual function per price searched.
MAX_STEPS = 40


@dataclass(frozen=True)
class Bound:
    """A lower bound on the long-run average cost per period of a catalogue (money per period).

    ``value``: the bound (nan when it does not apply); ``lambda_``: the price of capacity at the
    bound (money per unit of volume per period), ``mu`` that of the budget (money per unit of money
    spent); ``per_sku_costs``: g_i* of each SKU at those prices, in catalogue order; ``applies`` and
    ``why_not``: whether the bound holds for this catalogue and, if not, why. ``unconstrained``: the
    sum of per-SKU optima without prices (the bound when no limit binds); ``capacity_use`` and
    ``budget_use``: the averages sum v_i E[X_i] and sum c_i E[q_i] of the per-SKU optima at the
    prices; ``dual_gap``: how much higher the maximum of the dual function could be (money per period);
    ``measure``: which stock the capacity price charges.
    """

    value: float
    lambda_: float = 0.0
    mu: float = 0.0
    per_sku_costs: np.ndarray = field(default_factory=lambda: np.zeros(0))
    applies: bool = True
    why_not: str | None = None
    unconstrained: float = math.nan
    capacity_use: float = math.nan
    budget_use: float = math.nan
    dual_gap: float = 0.0
    measure: str = "arrival"
    evaluations: int = 0
    seconds: float = 0.0

    @classmethod
    def not_applicable(cls, why: str) -> Bound:
        """The answer where the bound does not apply: no value, and the reason."""
        return cls(value=math.nan, applies=False, why_not=why)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (arrays as lists, nan as None)."""
        out = asdict(self)
        out["per_sku_costs"] = [float(v) for v in self.per_sku_costs]
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}


@dataclass
class _Dual:
    """The dual function L(lambda, mu) of a catalogue, with its per-SKU optima cached."""

    configs: list[EnvConfig]
    volume: np.ndarray
    unit_cost: np.ndarray
    capacity: float | None
    budget: float | None
    measure: Measure
    max_states: int
    deadline: Deadline | None
    groups: list[list[int]] = field(default_factory=list)
    cache: dict[tuple[int, float, float], PricedOptimum] = field(default_factory=dict)
    evaluations: int = 0

    def __post_init__(self) -> None:
        # SKUs with the same config, volume and unit cost share their DP solves
        keys: dict[tuple[str, float, float], int] = {}
        self.rep: list[int] = []
        self.group_of = np.empty(len(self.configs), dtype=np.int64)
        for i, cfg in enumerate(self.configs):
            key = (cfg.model_dump_json(), float(self.volume[i]), float(self.unit_cost[i]))
            if key not in keys:
                keys[key] = len(self.rep)
                self.rep.append(i)
            self.group_of[i] = keys[key]

    def sku_optima(self, lam: float, mu: float) -> list[PricedOptimum]:
        """g_i* of every SKU group at prices (lambda, mu) (solved once per group and price)."""
        out = []
        for g, i in enumerate(self.rep):
            key = (g, lam, mu)
            if key not in self.cache:
                self.cache[key] = priced_optimum(
                    self.configs[i], lam * float(self.volume[i]), mu * float(self.unit_cost[i]),
                    self.measure, max_states=self.max_states, deadline=self.deadline,
                )  # fmt: skip
            out.append(self.cache[key])
        return out

    def __call__(self, lam: float, mu: float) -> tuple[float, float, float, np.ndarray]:
        """L(lambda, mu), its supergradient (capacity use - C, budget use - B) and the per-SKU g_i*."""
        self.evaluations += 1
        opt = self.sku_optima(lam, mu)
        g = np.array([opt[k].cost for k in self.group_of])
        use = float(np.dot(self.volume, [opt[k].stock for k in self.group_of]))
        spend = float(np.dot(self.unit_cost, [opt[k].ordered for k in self.group_of]))
        value = float(g.sum())
        cap_slope = use - (self.capacity or 0.0)
        bud_slope = spend - (self.budget or 0.0)
        if self.capacity is not None:
            value -= lam * self.capacity
        if self.budget is not None:
            value -= mu * self.budget
        return value, cap_slope, bud_slope, g


def maximise_concave(
    f: Callable[[float], tuple[float, float]], upper: float | None = None, start: float = 1.0
) -> tuple[float, float, float, int]:
    """Maximise a concave f on [0, upper] (upper None: unbounded) from its values and supergradients.

    ``f(x) -> (value, slope)``. Bisection on the sign of the slope; the tangent lines at the bracket
    ends bound the maximum from above, and the search stops when that estimate is within
    :data:`RTOL` of the best value found, or after :data:`MAX_STEPS` evaluations. Returns (x, value,
    gap, evaluations): the best point evaluated, its value, how much higher the maximum could be.
    """
    best_x, (best, slope) = 0.0, f(0.0)
    n = 1
    if slope <= 0:
        return 0.0, best, 0.0, n
    lo, f_lo, s_lo = 0.0, best, slope
    hi, f_hi, s_hi = None, math.nan, math.nan
    x = start if upper is None else min(start, upper)
    while hi is None and n < MAX_STEPS:  # bracket the maximum: a point with a slope <= 0
        value, slope = f(x)
        n += 1
        if value > best:
            best_x, best = x, value
        if slope > 0:
            lo, f_lo, s_lo = x, value, slope
            if upper is not None and x >= upper:
                return x, value, 0.0, n  # increasing up to the cap: the maximum is at the cap
            x = 4.0 * x if upper is None else min(4.0 * x, upper)
        else:
            hi, f_hi, s_hi = x, value, slope
    if hi is None:
        return best_x, best, math.inf, n
    while True:
        # tangents at lo (rising) and hi (falling) meet above the maximum of a concave function
        cross = (f_hi - f_lo + s_lo * lo - s_hi * hi) / (s_lo - s_hi) if s_lo > s_hi else lo
        gap = max(0.0, f_lo + s_lo * (cross - lo) - best)
        if gap <= RTOL * max(1.0, abs(best)) or n >= MAX_STEPS or hi - lo <= 1e-12 * max(1.0, hi):
            return best_x, best, gap, n
        x = 0.5 * (lo + hi)
        value, slope = f(x)
        n += 1
        if value > best:
            best_x, best = x, value
        if slope > 0:
            lo, f_lo, s_lo = x, value, slope
        else:
            hi, f_hi, s_hi = x, value, slope


def lagrangian_bound(
    catalogue: Any,
    *,
    max_states: int = BOUND_MAX_STATES,
    time_limit: float | None = None,
) -> Bound:
    """The Lagrangian lower bound on ``catalogue``'s optimal long-run cost (see the module docstring).

    ``catalogue``: a :class:`~stocklab.envs.catalogue.build.Catalogue` (``configs``, ``volume``,
    ``unit_cost``, ``shared``, ``skus``). ``max_states``: the largest per-SKU DP solved;
    ``time_limit``: seconds for the whole search. Returns ``applies=False`` with the reason when a
    SKU's demand is not stationary, its lead time not fixed, its DP too large, or time runs out.
    """
    t0 = time.perf_counter()
    configs: list[EnvConfig] = list(catalogue.configs)
    skus = list(getattr(catalogue, "skus", range(len(configs))))
    why = _why_not(configs, skus, max_states)
    if why is not None:
        return Bound.not_applicable(why)
    cap, budget, measure, cap_max = _limits(getattr(catalogue, "shared", None))
    volume = np.ones(len(configs)) if cap is None else np.asarray(catalogue.volume, dtype=float)
    if getattr(getattr(getattr(catalogue, "shared", None), "capacity", None), "measure", "volume") == "units":
        volume = np.ones(len(configs))
    unit_cost = np.asarray(getattr(catalogue, "unit_cost", np.ones(len(configs))), dtype=float)
    dual = _Dual(configs, volume, unit_cost, cap, budget, measure, max_states, Deadline.after(time_limit))
    try:
        lam, mu, value, gap = _search(dual, cap is not None, budget is not None, cap_max)
        final = dual(lam, mu)
        base = dual(0.0, 0.0)
    except StocklabError as exc:
        return Bound.not_applicable(f"a per-SKU DP failed: {exc}")
    return Bound(
        value=value, lambda_=lam, mu=mu, per_sku_costs=final[3], unconstrained=base[0],
        capacity_use=final[1] + (cap or 0.0), budget_use=final[2] + (budget or 0.0), dual_gap=gap,
        measure=measure, evaluations=dual.evaluations, seconds=time.perf_counter() - t0,
    )  # fmt: skip


def _search(dual: _Dual, priced_cap: bool, priced_budget: bool, cap_max: float | None) -> tuple:
    """(lambda, mu, L, gap) at the best prices found: nested bisection, lambda inside mu."""
    start_l = _price_scale(dual, "capacity")
    start_m = _price_scale(dual, "budget")

    def inner(mu: float) -> tuple[float, float, float, float]:
        if not priced_cap:
            value, _, _, _ = dual(0.0, mu)
            return 0.0, value, 0.0, mu

        def f(lam: float) -> tuple[float, float]:
            value, slope, _, _ = dual(lam, mu)
            return value, slope

        lam, value, gap, _ = maximise_concave(f, cap_max, start_l)
        return lam, value, gap, mu

    if not priced_budget:
        lam, value, gap, _ = inner(0.0)
        return lam, 0.0, value, gap
    memo: dict[float, tuple[float, float, float, float]] = {}

    def g(mu: float) -> tuple[float, float]:
        memo[mu] = inner(mu)
        lam = memo[mu][0]
        return memo[mu][1], dual(lam, mu)[2]

    mu, value, gap_mu, _ = maximise_concave(g, None, start_m)
    lam, _, gap_l, _ = memo[mu]
    return lam, mu, value, gap_mu + gap_l


def _price_scale(dual: _Dual, limit: str) -> float:
    """A first price to try: the order of the marginal cost rates of a unit of the limit."""
    rates = [c.costs.shortage + c.costs.holding for c in dual.configs]
    if limit == "capacity":
        return max(1e-6, float(np.median(np.asarray(rates) / np.maximum(dual.volume, 1e-12))) / 8)
    return max(1e-6, float(np.median(np.asarray(rates) / np.maximum(dual.unit_cost, 1e-12))) / 8)


def _limits(shared: Any) -> tuple[float | None, float | None, Measure, float | None]:
    """(capacity, budget, measure, largest capacity price) of a catalogue's ``shared`` section."""
    cap = getattr(shared, "capacity", None)
    bud = getattr(shared, "budget", None)
    capacity = None if cap is None else float(cap.limit)
    budget = None if bud is None else float(bud.limit)
    if cap is not None and getattr(cap, "rule", "pro_rata") == "overflow":
        return capacity, budget, "end", float(getattr(cap, "overflow_cost", 0.0))
    return capacity, budget, "arrival", None


def _why_not(configs: list[EnvConfig], skus: list[Any], max_states: int) -> str | None:
    """Why the bound does not apply to these SKUs (the first reason found), or None."""
    if not configs:
        return "the catalogue has no SKU"
    for sku, cfg in zip(skus, configs):
        if not cfg.demand.stationary or cfg.demand.pmf() is None:
            return f"SKU '{sku}': demand '{cfg.demand.dist}' is not a stationary distribution"
        try:
            DPInstance.measure(cfg, max_states=max_states)
        except StocklabError as exc:
            return f"SKU '{sku}': {exc}"
    return None
