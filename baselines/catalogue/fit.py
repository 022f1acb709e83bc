"""Fit the Lagrangian coordinator to a catalogue: prices by bisection, rationing calibrated by simulation.

1. **Levels.** Every candidate base-stock level of every SKU is simulated once, each SKU alone
   (:func:`~stocklab.baselines.catalogue.levels.score_levels`).
2. **Prices.** mu (budget, outer) and lambda (capacity, inner) are found by bisection on the level
   table: the smallest prices whose per-SKU best levels keep the average volume held
   sum_i v_i X_i <= C and the average spend sum_i c_i q_i <= B (under ``overflow`` lambda stops at the
   overflow cost, beyond which overflowing is cheaper than holding less).
3. **Price path.** :data:`PATH_STEPS` steps of rising prices from the fitted ones to prices at which
   every SKU's level is 0, and each SKU's levels along it (what the rationing walks up).
4. **Calibration.** The coordinator is simulated on the coupled catalogue (shared limits as the
   engine applies them) on training scenarios, for a few starting steps of the path (slightly
   higher prices) and, for each, the smallest ``z`` (room for randomness) that keeps at least
   ``target`` of the periods within capacity (bisection on z). The cheapest variant that meets the
   target is kept; under ``overflow`` the cheapest variant, overflow charges included.
   The rationing corrects its projection by the smoothed error of past projections
   (:data:`ADAPT`), so that a demand drifting away from the SKUs' fitted pmfs (replayed histories)
   does not overflow the warehouse period after period.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from stocklab.baselines.catalogue.coordinator import LagrangianCoordinator
from stocklab.baselines.catalogue.levels import LevelTable, score_levels
from stocklab.baselines.catalogue.simulate import simulate
from stocklab.baselines.catalogue.training import training_catalogue
from stocklab.baselines.policies.planning import lead_time_periods, period_pmf
from stocklab.envs.core.seeding import episode_seeds
from stocklab.envs.demand import pmf_moments
from stocklab.envs.engines.params import batch_action_map, batch_layout

#: Steps of the price path.
PATH_STEPS = 32
#: Starting steps of the path tried by the calibration.
STARTS = (0, 2)
#: ... and with exact per-SKU orders (which then act at the higher prices the rationing settles on).
EXACT_STARTS = (0, 2, 4, 6, 8)
#: Range of z searched (standard deviations of the lead-time demand's volume).
Z_RANGE = (-3.0, 12.0)
#: Bisection steps on z.
Z_STEPS = 6
#: Weight of the rationing's correction of its projected volume (None: no correction).
ADAPT: float | None = 0.25

Progress = Callable[[float, float | None], None]


@dataclass(frozen=True)
class Limits:
    """A catalogue's shared limits as numbers: capacity C (volume), budget B (money), the capacity rule."""

    capacity: float | None
    budget: float | None
    rule: str
    overflow_cost: float
    volume: np.ndarray
    unit_cost: np.ndarray

    @classmethod
    def of(cls, catalogue: Any) -> Limits:
        """The limits of ``catalogue`` (volume ones when capacity is measured in units)."""
        n = len(catalogue.configs)
        shared = getattr(catalogue, "shared", None)
        cap, bud = getattr(shared, "capacity", None), getattr(shared, "budget", None)
        units = cap is None or cap.measure == "units"
        return cls(
            capacity=None if cap is None else float(cap.limit),
            budget=None if bud is None else float(bud.limit),
            rule="none" if cap is None else cap.rule,
            overflow_cost=0.0 if cap is None else float(cap.overflow_cost),
            volume=np.ones(n) if units else np.asarray(catalogue.volume, dtype=float),
            unit_cost=np.asarray(getattr(catalogue, "unit_cost", np.ones(n)), dtype=float),
        )

    @property
    def measure(self) -> str:
        """Which stock the capacity counts: ``end`` (of the period) under overflow, else ``arrival``."""
        return "end" if self.rule == "overflow" else "arrival"


def _smallest_price(
    use: Callable[[float], float], limit: float, cap: float | None = None, steps: int = 60
) -> float:
    """Smallest price p >= 0 with use(p) <= limit (use falls with p), by doubling then bisection."""
    if use(0.0) <= limit:
        return 0.0
    hi = 1e-3
    while use(hi) > limit and hi < 1e12:
        if cap is not None and hi >= cap:
            return cap
        hi *= 4.0
    if cap is not None:
        hi = min(hi, cap)
        if use(hi) > limit:
            return cap
    lo = 0.0
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        if use(mid) <= limit:
            hi = mid
        else:
            lo = mid
    return hi


def fit_prices(table: LevelTable, lim: Limits) -> tuple[float, float]:
    """(lambda, mu): the smallest prices whose best levels keep the limits on average."""
    v, c, m = lim.volume, lim.unit_cost, lim.measure

    def lam_for(mu: float) -> float:
        if lim.capacity is None:
            return 0.0

        def use(lam: float) -> float:
            cols = table.choose(lam * v, mu * c, m)
            return float(v @ table.pick(cols, "stock" if m == "arrival" else "end_stock"))

        cap = lim.overflow_cost if lim.rule == "overflow" else None
        return _smallest_price(use, lim.capacity, cap)

    if lim.budget is None:
        return lam_for(0.0), 0.0

    def spend(mu: float) -> float:
        cols = table.choose(lam_for(mu) * v, mu * c, m)
        return float(c @ table.pick(cols, "ordered"))

    mu = _smallest_price(spend, lim.budget, steps=40)
    return lam_for(mu), mu


def price_path(table: LevelTable, lim: Limits, lam: float, mu: float, steps: int = PATH_STEPS) -> np.ndarray:
    """(steps, 2) prices from (lambda, mu) up to where every level is 0, geometric in between."""
    v, c = lim.volume, lim.unit_cost
    use_cap, use_bud = lim.capacity is not None, lim.budget is not None
    if not (use_cap or use_bud):
        return np.array([[lam, mu]])
    top = 1e-3
    while top < 1e12:
        cols = table.choose(top * v * use_cap, top * c * use_bud, lim.measure)
        if not table.pick(cols).any():
            break
        top *= 2.0
    out = np.empty((steps, 2))
    out[0] = lam, mu
    for j, base in enumerate((lam, mu)):
        if not (use_cap, use_bud)[j]:
            out[1:, j] = base
            continue
        start = max(base, top * 1e-3)
        out[1:, j] = start * (top / start) ** (np.arange(steps - 1) / max(steps - 2, 1))
        out[1:, j] = np.maximum(out[1:, j], base)
    return out


def lead_moments(configs: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lead times L_i, mean and sd of the demand over L_i periods) per SKU, from the per-period pmf."""
    lead = np.array([lead_time_periods(c) for c in configs], dtype=np.int64)
    moments = np.array([pmf_moments(period_pmf(c)) for c in configs])
    return lead, moments[:, 0] * lead, np.sqrt(moments[:, 1] * lead)


def build_coordinator(
    catalogue: Any,
    table: LevelTable,
    lam: float,
    mu: float,
    z: float | None,
    start: int = 0,
    adapt: float | None = ADAPT,
    exact: Any = None,
) -> LagrangianCoordinator:
    """The coordinator of ``catalogue`` with the price path from (lambda, mu), from its step ``start``.

    ``exact``: per-SKU DP orders at the path's prices of step ``start`` (an ExactOrders), in place
    of those SKUs' base-stock levels there.
    """
    lim = Limits.of(catalogue)
    path = price_path(table, lim, lam, mu)[start:]
    levels = np.stack(
        [table.pick(table.choose(p[0] * lim.volume, p[1] * lim.unit_cost, lim.measure)) for p in path], 1
    )
    lead, lead_mean, lead_sd = lead_moments(list(catalogue.configs))
    return LagrangianCoordinator(
        path_levels=levels, path=path, lead=lead, lead_mean=lead_mean, lead_sd=lead_sd,
        volume=lim.volume, unit_cost=lim.unit_cost, capacity=lim.capacity, budget=lim.budget,
        z=z if lim.capacity is not None else None, action_map=batch_action_map(list(catalogue.configs)),
        spec=batch_layout(list(catalogue.configs)), adapt=adapt, exact=exact,
    )  # fmt: skip


def exact_rule(catalogue: Any, table: LevelTable, lam: float, mu: float, start: int, max_states: int) -> Any:
    """Per-SKU DP-optimal orders at the prices of step ``start`` of the path from (lambda, mu)."""
    from stocklab.baselines.catalogue.exact_rule import exact_orders

    lim = Limits.of(catalogue)
    prices = price_path(table, lim, lam, mu)[start]
    configs = list(catalogue.configs)
    return exact_orders(
        configs, lim.volume, lim.unit_cost, prices, lim.measure, batch_layout(configs), max_states
    )


def fit_coordinator(
    catalogue: Any,
    *,
    episodes: int = 4,
    periods: int = 1000,
    warmup: int = 100,
    seed: int = 0,
    target: float = 0.99,
    margin: float = 0.005,
    calibration: tuple[int, int] = (2, 1000),
    table: LevelTable | None = None,
    progress: Progress | None = None,
    exact: int | None = None,
) -> LagrangianCoordinator:
    """Fit the coordinator to ``catalogue`` (module docstring): levels, prices, rationing.

    ``episodes`` x ``periods`` score each candidate level (after ``warmup``), on seeds from
    ``seed``; ``calibration`` = (episodes, periods) of each coupled simulation, on seeds from
    ``seed + 1``; the rationing keeps at least ``target + margin`` of those periods within capacity.
    Everything is fitted on :func:`training_catalogue` (replayed SKUs replay their train split).
    ``exact``: the largest per-SKU DP (states) whose optimal orders replace the SKU's base-stock
    level at the fitted prices (:mod:`~stocklab.baselines.catalogue.exact_rule`); None: levels only.
    """
    tick = progress or (lambda done, total: None)
    catalogue = training_catalogue(catalogue)  # never tune on a replayed test period
    if table is None:
        table = score_levels(
            list(catalogue.configs), episodes=episodes, periods=periods, warmup=warmup, seed=seed
        )
    tick(1, None)
    lim = Limits.of(catalogue)
    lam, mu = fit_prices(table, lim)
    info: dict[str, Any] = {"lambda": lam, "mu": mu, "measure": lim.measure}
    rule = _ExactRules(catalogue, table, lam, mu, exact)

    if lim.capacity is None:
        policy = build_coordinator(catalogue, table, lam, mu, None, exact=rule(0))
        policy.info.update(info)
        return policy
    seeds = episode_seeds(seed + 1, calibration[0])
    tried: list[dict[str, Any]] = []

    def trial(start: int, z: float | None) -> dict[str, Any]:
        policy = build_coordinator(catalogue, table, lam, mu, z, start, exact=rule(start))
        run = simulate(catalogue, policy, seeds, calibration[1], warmup)
        row = {"start": start, "z": z, **run.summary()}
        tried.append(row)
        tick(1 + len(tried), None)
        return row

    best = _calibrate(
        trial, lim.rule == "overflow", target + margin, STARTS if exact is None else EXACT_STARTS
    )
    info.update({"start": best["start"], "z": best["z"], "calibration": tried})
    policy = build_coordinator(catalogue, table, lam, mu, best["z"], best["start"], exact=rule(best["start"]))
    policy.info.update(info)
    return policy


class _ExactRules:
    """The per-SKU exact orders at each starting step of the path, solved once per step (None: levels only)."""

    def __init__(self, catalogue: Any, table: LevelTable, lam: float, mu: float, max_states: int | None):
        self.args, self.max_states = (catalogue, table, lam, mu), max_states
        self.rules: dict[int, Any] = {}

    def __call__(self, start: int) -> Any:
        if self.max_states is not None and start not in self.rules:
            self.rules[start] = exact_rule(*self.args, start, self.max_states)
        return self.rules.get(start)


def _calibrate(
    trial: Callable[[int, float | None], dict[str, Any]], overflow: bool, goal: float, starts: tuple[int, ...]
) -> dict:
    """The cheapest (start, z) trial meeting ``goal`` periods within capacity (any, under overflow)."""
    rows: list[dict[str, Any]] = []
    for start in starts:
        if overflow:
            rows.extend(trial(start, z) for z in (None, 0.0, 2.0))
            continue
        lo, hi = Z_RANGE
        row_hi = trial(start, hi)
        rows.append(row_hi)
        if row_hi["within_capacity"] < goal:
            continue  # even the widest room misses the goal from this start
        for _ in range(Z_STEPS):
            mid = 0.5 * (lo + hi)
            row = trial(start, mid)
            rows.append(row)
            if row["within_capacity"] >= goal:
                hi = mid
            else:
                lo = mid
    ok = [r for r in rows if overflow or r["within_capacity"] >= goal]
    if not ok:  # nothing meets the goal: the variant closest to it
        return max(rows, key=lambda r: (r["within_capacity"], -r["cost"]))
    return min(ok, key=lambda r: r["cost"])


__all__ = ["Limits", "build_coordinator", "fit_coordinator", "fit_prices", "lead_moments", "price_path"]
