"""The exact optimum of a stocking point by dynamic programming, and exact evaluation of any policy.

* :func:`solve_optimal` minimises the long-run average cost per period by relative value iteration
  (Puterman 1994, *Markov Decision Processes*, §8.5.5) on the finite MDP of :class:`DPInstance`
  (see :mod:`stocklab.baselines.exact.model` for the states, the timing and the truncation).
* :func:`evaluate_policy` gives the exact long-run average cost of any deterministic stationary
  policy acting on observation vectors: it enumerates the states the policy reaches from the start,
  builds the Markov chain and solves for its stationary distribution. No simulation.
* :func:`best_base_stock` finds the best order-up-to level on the inventory position, exactly.

Example (Zipkin 2008, lost sales, Poisson(5) demand, h = 1, p = 4, L = 1)::

    inst = DPInstance.from_config(parse_env_config({"lead_time": 1, "costs": {"shortage": 4}}))
    sol = solve_optimal(inst)          # sol.cost: 4.0407 per period (Zipkin's Table 1: 4.04)
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from stocklab.baselines.exact.chain import MASS_TOL, chain_average_cost, evaluate_policy, policy_chain
from stocklab.baselines.exact.limits import (
    Deadline,
    DPLimits,
    ResourceLimitError,
    TimeLimitError,
    check_deadline,
)
from stocklab.baselines.exact.model import DPInstance
from stocklab.baselines.exact.optimal_policy import OptimalPolicy
from stocklab.envs.core.errors import ConfigError

__all__ = [
    "MASS_TOL", "DPInstance", "DPLimits", "DPSolution", "Deadline", "OptimalPolicy", "ResourceLimitError",
    "TimeLimitError", "best_base_stock", "evaluate_policy", "policy_chain", "solve_optimal",
]  # fmt: skip

#: ``progress(done, total)`` of a long computation, in its own units (total None when unknown).
Progress = Callable[[float, float | None], None]


@dataclass
class DPSolution:
    """Result of :func:`solve_optimal`. Costs are money per period, sizes in states."""

    cost: float
    """Exact long-run average cost per period of :attr:`policy` (optimal within ``tol``)."""
    cost_bounds: tuple[float, float]
    """Lower and upper bounds on the optimal average cost from the last value-iteration step."""
    policy: OptimalPolicy
    states: int
    seconds: float
    iterations: int
    converged: bool
    instance: DPInstance = field(repr=False)
    orders: np.ndarray = field(repr=False)
    """Optimal order (units) of each row of ``instance.states``."""
    truncation_mass: float = 0.0
    """Stationary probability per period of a transition clipped at the backorder floor."""
    bound_mass: float = 0.0
    """Stationary probability of states whose optimal order is cut by ``max_position`` (0 when the
    bound is proven safe)."""
    expansions: int = 0

    def order(self, state: tuple[int, ...]) -> int:
        """Optimal order (units) in state (x, p_0, ..., p_{m-1})."""
        return self.policy.order(tuple(int(v) for v in state))


# ------------------------------------------------------------------------------------------ chain
@dataclass
class Transitions:
    """Transitions of (state, order) rows through their post-decision states.

    Row i moves like row ``post[i]`` of ``mat`` (post-decision states x n_states) and costs
    ``cost[i]`` per period.
    """

    mat: sp.csr_matrix
    post: np.ndarray
    cost: np.ndarray
    clip: np.ndarray
    """Per post-decision state: probability of a transition clipped at the backorder floor."""

    def rows(self, chosen: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """Transition matrix, cost and clipped mass of the rows ``chosen`` (one per state)."""
        p = self.post[chosen]
        return self.mat[p], self.cost[chosen], self.clip[p]


def transitions(inst: DPInstance, rows: np.ndarray, q: np.ndarray) -> Transitions:
    """Transitions of ordering ``q[i]`` units in state ``rows[i]`` of the truncated space."""
    st = inst.states[rows]
    x, pipe = st[:, 0], st[:, 1:]
    keys = inst.post_keys(x, pipe, q)
    if keys is None:
        post, rep = np.arange(len(q)), np.arange(len(q))
    else:
        _, rep, post = np.unique(keys, return_index=True, return_inverse=True)
    xr, pr, qr = x[rep], pipe[rep], q[rep]
    out = inst.outcomes(xr, pr, qr)
    combo = inst.combo_ids(inst.rest_codes(pr, qr, inst.radix))
    if (combo < 0).any():
        raise RuntimeError("DP transition leaves the enumerated pipelines")  # a bug, not a user error
    r = out["row"]
    c = combo[r]
    lo = inst.combo_xlo[c]
    clipped = out["x_next"] < lo
    x_next = np.maximum(out["x_next"], lo)
    if (x_next > inst.combo_xhi[c]).any():
        raise RuntimeError("DP transition exceeds the position bound")
    col = inst.combo_start[c] + x_next - lo
    indptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=len(rep)))])
    mat = sp.csr_matrix((out["prob"], col, indptr), shape=(len(rep), inst.n_states))
    clip = np.bincount(r, weights=out["prob"] * clipped, minlength=len(rep))
    return Transitions(mat, np.asarray(post).ravel(), inst.row_cost(x, q), clip)


def _start_index(inst: DPInstance, start: dict[str, Any] | None = None) -> int:
    """The start state's index, or the state with empty pipeline and stock at the position bound."""
    i = inst.index(inst.start_state(start))
    if i >= 0:
        return i
    cap = inst.config.capacity
    x = inst.max_position if cap is None else min(inst.max_position, cap)
    return inst.index((x, *([0] * inst.pipeline_length)))


# ------------------------------------------------------------------------------------------ solve
def solve_optimal(
    inst: DPInstance,
    tol: float = 1e-6,
    max_iter: int = 100_000,
    max_expansions: int = 6,
    *,
    deadline: Deadline | None = None,
    progress: Progress | None = None,
) -> DPSolution:
    """Minimal long-run average cost per period and an optimal policy, by relative value iteration.

    Iterates V <- T V - (T V)(s_0), T V(s) = min_q [c(s, q) + sum_s' P(s' | s, q) V(s')], until the
    span of T V - V is at most ``tol`` (cost per period); min and max of T V - V bound the optimal
    average cost (Odoni 1969). The greedy policy of the last V is then evaluated exactly.
    When a truncation binds (see :mod:`stocklab.baselines.exact.model`) the bounds are widened and the
    instance solved again, at most ``max_expansions`` times; then a warning tells the mass that binds.
    A widened instance is checked against the same state and memory limits before it is built.

    ``deadline`` is checked at every iteration (TimeLimitError once passed). ``progress(done, total)``
    is called every iteration with done = log10(span_1 / span_i), total = log10(span_1 / tol): the span
    shrinks geometrically, so a bar over these units has a steady ETA.
    """
    t0 = time.perf_counter()
    expansions = 0
    while True:
        sol = _solve_once(inst, tol, max_iter, deadline, progress)
        widen = {}
        if not inst.bound_proven and sol.bound_mass > MASS_TOL:
            widen["max_position"] = inst.max_position + max(2, inst.d_top // 2)
        if sol.truncation_mass > MASS_TOL:
            widen["min_position"] = inst.min_position - max(2, inst.d_top // 2)
        if not widen:
            break
        refused = ""
        if expansions < max_expansions:
            try:
                inst = inst.with_bounds(**widen)
                expansions += 1
                continue
            except ConfigError as exc:
                refused = f" (a wider instance is refused: {exc})"
        warnings.warn(
            f"DP truncation still binds after {expansions} widenings{refused}: stationary mass "
            f"{sol.bound_mass:.2e} at max_position={inst.max_position}, {sol.truncation_mass:.2e} "
            f"clipped at min_position={inst.min_position}; the optimum may be slightly off",
            RuntimeWarning,
            stacklevel=2,
        )
        break
    sol.expansions = expansions
    sol.seconds = time.perf_counter() - t0
    return sol


def _solve_once(
    inst: DPInstance, tol: float, max_iter: int, deadline: Deadline | None, progress: Progress | None
) -> DPSolution:
    t0 = time.perf_counter()
    n = inst.n_states
    x = inst.states[:, 0]
    ip = inst.states.sum(axis=1)
    q_lo, q_hi, env_hi = inst.order_range(x, ip)
    n_act = q_hi - q_lo + 1
    seg = np.cumsum(n_act) - n_act
    pair_state = np.repeat(np.arange(n), n_act)
    q = np.arange(int(n_act.sum())) - np.repeat(seg, n_act) + np.repeat(q_lo, n_act)
    check_deadline(deadline, f"building the DP's transitions ({n:,} states)")
    tr = transitions(inst, pair_state, q)
    mat, post, cost = tr.mat, tr.post, tr.cost
    v, bounds, it, converged = _value_iteration(tr, seg, tol, max_iter, deadline, progress)
    qv = cost + (mat @ v)[post]
    best = np.minimum.reduceat(qv, seg)
    # the smallest order among the minimisers (ties: order less)
    is_best = qv <= best[pair_state] + 1e-10 * (1.0 + np.abs(best[pair_state]))
    cand = np.flatnonzero(is_best)
    _, first = np.unique(pair_state[cand], return_index=True)
    chosen = cand[first]
    orders = q[chosen]
    p_mat, p_cost, p_clip = tr.rows(chosen)
    gain, occ = chain_average_cost(p_mat, p_cost, _start_index(inst), deadline)
    binding = (q[chosen] == q_hi) & (q_hi < env_hi) & (q_hi == inst.max_position - ip)
    policy = OptimalPolicy(inst.obs_spec, inst.action_map, inst, orders)
    return DPSolution(
        cost=gain, cost_bounds=bounds, policy=policy, states=n, seconds=time.perf_counter() - t0,
        iterations=it, converged=converged, instance=inst, orders=orders,
        truncation_mass=float(occ @ p_clip),
        bound_mass=0.0 if inst.bound_proven else float(occ @ binding),
    )  # fmt: skip


def _value_iteration(
    tr: Transitions,
    seg: np.ndarray,
    tol: float,
    max_iter: int,
    deadline: Deadline | None,
    progress: Progress | None,
) -> tuple[np.ndarray, tuple[float, float], int, bool]:
    """Relative value iteration on the rows of ``tr`` (the rows of state i start at ``seg[i]``).

    Returns the relative values V, the bounds (min, max) of T V - V on the optimal cost, the
    iterations done and whether the span reached ``tol``.
    """
    mat, post, cost = tr.mat, tr.post, tr.cost
    v = np.zeros(len(seg))
    bounds = (-np.inf, np.inf)
    first_span = None
    damp_after = max(1000, max_iter // 10)
    for it in range(1, max_iter + 1):
        if deadline is not None and deadline.expired():
            known = f", optimal cost between {bounds[0]:.6g} and {bounds[1]:.6g}" if it > 1 else ""
            deadline.check(f"value iteration ({it - 1} iterations done{known})")
        tv = np.minimum.reduceat(cost + (mat @ v)[post], seg)
        diff = tv - v
        bounds = (float(diff.min()), float(diff.max()))
        span = bounds[1] - bounds[0]
        if progress is not None and span > 0:
            first_span = first_span or max(span, 10 * tol)
            progress(max(0.0, math.log10(first_span / span)), math.log10(first_span / tol))
        if span <= tol:
            return tv - tv[0], bounds, it, True
        # A periodic optimal chain can make plain iteration oscillate; the damped operator
        # (V + T V) / 2 has the same fixed points and no periodicity (Puterman 1994, §8.5.4).
        v = (tv - tv[0]) if it < damp_after else 0.5 * (v + tv) - 0.5 * (v[0] + tv[0])
    warnings.warn(f"relative value iteration stopped after {max_iter} iterations with cost bounds "
                  f"{bounds}", RuntimeWarning, stacklevel=4)  # fmt: skip
    return v, bounds, max_iter, False


# ------------------------------------------------------------------------------- base-stock level
def base_stock_orders(inst: DPInstance, level: int, ip: np.ndarray) -> np.ndarray:
    """Units a base-stock policy with order-up-to ``level`` orders at positions ``ip``.

    Through the env's action map: ``ActionMap.action(max(0, level - ip))`` turned back by
    ``ActionMap.order``.
    """
    amap = inst.action_map
    return amap.orders(amap.actions(np.maximum(0, level - ip), ip), ip)


def base_stock_cost(inst: DPInstance, level: int, deadline: Deadline | None = None) -> float:
    """Exact long-run average cost per period of the base-stock policy with ``level`` (units)."""
    bounds: dict[str, int] = {"max_position": max(level, 0)}
    if not inst.lost_sales:
        bounds["min_position"] = level - inst.d_top  # lowest position: level minus one demand
    for _ in range(8):
        sub = inst.with_bounds(**bounds)
        ip = sub.states.sum(axis=1)
        rows = np.arange(sub.n_states)
        mat, cost, clip = transitions(sub, rows, base_stock_orders(sub, level, ip)).rows(rows)
        gain, occ = chain_average_cost(mat, cost, _start_index(sub), deadline)
        if inst.lost_sales or occ @ clip <= MASS_TOL:
            return gain
        bounds["min_position"] = sub.min_position - max(2, inst.d_top)
    warnings.warn(f"base-stock {level}: backlog truncation still binds", RuntimeWarning, stacklevel=2)
    return gain


def best_base_stock(inst: DPInstance, deadline: Deadline | None = None) -> tuple[int, float]:
    """The best order-up-to level S on the inventory position (units) and its exact average cost.

    Without capacity or binding order caps the cost is convex in S under backorders (it is
    K P(D > 0) + c E[D] + G(S), G convex) and, without fixed order cost, under lost sales
    (Janakiraman & Roundy 2004, Operations Research 52(5)); a local search from the backorder level
    S̄ then finds the optimum. Otherwise every S in 0..max_position is scored and the search goes on
    upwards while the cost falls. ``deadline`` is checked before every level scored.
    """
    cache: dict[int, float] = {}

    def cost(level: int) -> float:
        if level not in cache:
            check_deadline(deadline, f"best base-stock level ({len(cache)} levels scored)")
            cache[level] = base_stock_cost(inst, level, deadline)
        return cache[level]

    cfg = inst.config
    convex = (
        (cfg.costs.fixed_order == 0 or not inst.lost_sales)
        and cfg.capacity is None
        and cfg.max_order >= inst.d_top
        and (
            cfg.action.mode == "quantity" or (cfg.action.max_level or 0) >= inst.base_stock_level + inst.d_top
        )
    )
    if convex:
        level = inst.base_stock_level
        step = -1 if level > 0 and cost(level - 1) < cost(level) else 1
        while level + step >= 0 and cost(level + step) < cost(level):
            level += step
    else:
        level = min(range(inst.max_position + 1), key=cost)
        while cost(level + 1) < cost(level):
            level += 1
    return level, cost(level)
