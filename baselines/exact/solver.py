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

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from stocklab.baselines.exact.chain import chain_average_cost, evaluate_policy
from stocklab.baselines.exact.model import DPInstance
from stocklab.envs.core.errors import ConfigError
from stocklab.envs.core.obs import ObsSpec
from stocklab.envs.core.policy import ActionMap, Policy

__all__ = ["DPInstance", "DPSolution", "OptimalPolicy", "best_base_stock", "evaluate_policy", "solve_optimal"]

#: Stationary probability above which a truncation (state floor, position bound) counts as binding.
MASS_TOL = 1e-9


class OptimalPolicy(Policy):
    """The DP's optimal order for every state, looked up from the observation (a table policy).

    A state outside the truncated space orders 0 when its inventory position is at least
    ``max_position``; under backorders (position below the floor, or a pipeline larger than the
    table's) it orders up to where the table's state with the same clipped position and an empty
    pipeline would.
    """

    name = "optimal"

    def __init__(self, obs_spec: ObsSpec, action_map: ActionMap, instance: DPInstance, orders: np.ndarray):
        super().__init__(obs_spec, action_map)
        self.instance = instance
        self.orders = np.asarray(orders, dtype=np.int64)
        self._on_hand = obs_spec.index("on_hand").start
        self._backlog = obs_spec.index("backlog").start if obs_spec.has("backlog") else None
        self._pipe = obs_spec.index("pipeline") if obs_spec.has("pipeline") else slice(0, 0)
        self._m = instance.pipeline_length
        self._table: dict[tuple[int, ...], int] | None = None

    def order(self, state: tuple[int, ...]) -> int:
        """Optimal order (units) in state (x, p_0, ..., p_{m-1}), x = on hand or net inventory."""
        if self._table is None:
            self._table = dict(zip(map(tuple, self.instance.states.tolist()), self.orders.tolist()))
        hit = self._table.get(state)
        if hit is not None:
            return hit
        inst = self.instance
        ip = sum(state)
        if ip >= inst.max_position:
            return 0
        cap = inst.config.capacity
        if inst.lost_sales:  # only start states the env cannot reach again (x above capacity) get here
            hit = self._table.get((state[0] if cap is None else min(state[0], cap), *state[1:]))
            return 0 if hit is None else hit
        # Backorders: act like the table's state with the same (clipped) position and an empty
        # pipeline; optimal backorder policies depend on the position only.
        y = min(max(ip, inst.min_position), inst.max_position if cap is None else min(inst.max_position, cap))
        hit = self._table.get((y, *([0] * self._m)))
        return int(min(inst.config.max_order, max(0, y + (hit or 0) - ip)))

    def act(self, observation: np.ndarray) -> int:
        """The table's order for the observation's state, through the env's action map."""
        x = int(round(float(observation[self._on_hand])))
        if self._backlog is not None:
            x -= int(round(float(observation[self._backlog])))
        pipe = [int(round(float(v))) for v in observation[self._pipe]][: self._m]
        state = (x, *pipe, *([0] * (self._m - len(pipe))))
        return self.action_map.action(self.order(state), self.inventory_position(observation))

    def params(self) -> dict[str, Any]:
        """Number of states and the largest inventory position of the DP."""
        return {"states": int(len(self.orders)), "max_position": self.instance.max_position}

    def table(self) -> dict[str, Any]:
        """The policy as JSON-ready data: state field names, one row per state, the order (units)."""
        names = ["on_hand" if self.instance.lost_sales else "net_inventory"]
        names += [f"pipeline[{k}]" for k in range(self._m)]
        return {"fields": names, "states": self.instance.states.tolist(), "orders": self.orders.tolist()}

    @property
    def exportable(self) -> str | None:
        """``dp_table``: the policy exports as its state -> order table."""
        return "dp_table"

    def bounds(self) -> dict[str, Any]:
        """The DP bounds and tolerance that rebuild this policy's state space with ``DPInstance.from_config``."""
        inst = self.instance
        out: dict[str, Any] = {
            "tol": inst.tol,
            "max_position": inst.max_position,
            "max_states": inst.max_states,
        }
        if not inst.lost_sales:
            out["min_position"] = inst.min_position
        return out


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

    Row i moves like row ``post[i]`` of ``mat`` (post-decision states x n_states) and costs ``cost[i]``
    per period.
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
    inst: DPInstance, tol: float = 1e-6, max_iter: int = 100_000, max_expansions: int = 6
) -> DPSolution:
    """Minimal long-run average cost per period and an optimal policy, by relative value iteration.

    Iterates V <- T V - (T V)(s_0), T V(s) = min_q [c(s, q) + sum_s' P(s' | s, q) V(s')], until the
    span of T V - V is at most ``tol`` (cost per period); min and max of T V - V bound the optimal
    average cost (Odoni 1969). The greedy policy of the last V is then evaluated exactly.
    When a truncation binds (see :mod:`stocklab.baselines.exact.model`) the bounds are widened and the
    instance solved again, at most ``max_expansions`` times; then a warning tells the mass that binds.
    """
    t0 = time.perf_counter()
    expansions = 0
    while True:
        sol = _solve_once(inst, tol, max_iter)
        widen = {}
        if not inst.bound_proven and sol.bound_mass > MASS_TOL:
            widen["max_position"] = inst.max_position + max(2, inst.d_top // 2)
        if sol.truncation_mass > MASS_TOL:
            widen["min_position"] = inst.min_position - max(2, inst.d_top // 2)
        if not widen:
            break
        if expansions == max_expansions:
            warnings.warn(
                f"DP truncation still binds after {expansions} widenings: stationary mass "
                f"{sol.bound_mass:.2e} at max_position={inst.max_position}, {sol.truncation_mass:.2e} "
                f"clipped at min_position={inst.min_position}; the optimum may be slightly off",
                RuntimeWarning,
                stacklevel=2,
            )
            break
        try:
            inst = inst.with_bounds(**widen)
        except ConfigError:
            break
        expansions += 1
    sol.expansions = expansions
    sol.seconds = time.perf_counter() - t0
    return sol


def _solve_once(inst: DPInstance, tol: float, max_iter: int) -> DPSolution:
    t0 = time.perf_counter()
    n = inst.n_states
    x = inst.states[:, 0]
    ip = inst.states.sum(axis=1)
    q_lo, q_hi, env_hi = inst.order_range(x, ip)
    n_act = q_hi - q_lo + 1
    seg = np.cumsum(n_act) - n_act
    pair_state = np.repeat(np.arange(n), n_act)
    q = np.arange(int(n_act.sum())) - np.repeat(seg, n_act) + np.repeat(q_lo, n_act)
    tr = transitions(inst, pair_state, q)
    mat, post, cost = tr.mat, tr.post, tr.cost
    v = np.zeros(n)
    bounds = (-np.inf, np.inf)
    converged = False
    it = 0
    damp_after = max(1000, max_iter // 10)
    for it in range(1, max_iter + 1):
        tv = np.minimum.reduceat(cost + (mat @ v)[post], seg)
        diff = tv - v
        bounds = (float(diff.min()), float(diff.max()))
        if bounds[1] - bounds[0] <= tol:
            converged = True
            v = tv - tv[0]
            break
        # A periodic optimal chain can make plain iteration oscillate; the damped operator
        # (V + T V) / 2 has the same fixed points and no periodicity (Puterman 1994, §8.5.4).
        v = (tv - tv[0]) if it < damp_after else 0.5 * (v + tv) - 0.5 * (v[0] + tv[0])
    if not converged:
        warnings.warn(f"relative value iteration stopped after {max_iter} iterations with cost bounds "
                      f"{bounds}", RuntimeWarning, stacklevel=3)  # fmt: skip
    qv = cost + (mat @ v)[post]
    best = np.minimum.reduceat(qv, seg)
    # the smallest order among the minimisers (ties: order less)
    is_best = qv <= best[pair_state] + 1e-10 * (1.0 + np.abs(best[pair_state]))
    cand = np.flatnonzero(is_best)
    _, first = np.unique(pair_state[cand], return_index=True)
    chosen = cand[first]
    orders = q[chosen]
    p_mat, p_cost, p_clip = tr.rows(chosen)
    gain, occ = chain_average_cost(p_mat, p_cost, _start_index(inst))
    binding = (q[chosen] == q_hi) & (q_hi < env_hi) & (q_hi == inst.max_position - ip)
    policy = OptimalPolicy(inst.obs_spec, inst.action_map, inst, orders)
    return DPSolution(
        cost=gain, cost_bounds=bounds, policy=policy, states=n, seconds=time.perf_counter() - t0,
        iterations=it, converged=converged, instance=inst, orders=orders,
        truncation_mass=float(occ @ p_clip),
        bound_mass=0.0 if inst.bound_proven else float(occ @ binding),
    )  # fmt: skip


# ------------------------------------------------------------------------------- base-stock level
def base_stock_orders(inst: DPInstance, level: int, ip: np.ndarray) -> np.ndarray:
    """Units a base-stock policy with order-up-to ``level`` orders at positions ``ip``.

    The orders go through the env's action map: ``ActionMap.action(max(0, level - ip))`` turned back by
    ``ActionMap.order``.
    """
    amap = inst.action_map
    want = np.minimum(np.maximum(0, level - ip), amap.max_order)
    if amap.mode == "quantity":
        return want
    action = np.clip(ip + want, 0, amap.max_level)
    return np.minimum(amap.max_order, np.maximum(0, action - ip))


def base_stock_cost(inst: DPInstance, level: int) -> float:
    """Exact long-run average cost per period of the base-stock policy with ``level`` (units)."""
    bounds: dict[str, int] = {"max_position": max(level, 0)}
    if not inst.lost_sales:
        bounds["min_position"] = level - inst.d_top  # lowest position: level minus one demand
    for _ in range(8):
        sub = inst.with_bounds(**bounds)
        ip = sub.states.sum(axis=1)
        rows = np.arange(sub.n_states)
        mat, cost, clip = transitions(sub, rows, base_stock_orders(sub, level, ip)).rows(rows)
        gain, occ = chain_average_cost(mat, cost, _start_index(sub))
        if inst.lost_sales or occ @ clip <= MASS_TOL:
            return gain
        bounds["min_position"] = sub.min_position - max(2, inst.d_top)
    warnings.warn(f"base-stock {level}: backlog truncation still binds", RuntimeWarning, stacklevel=2)
    return gain


def best_base_stock(inst: DPInstance) -> tuple[int, float]:
    """The best order-up-to level S on the inventory position (units) and its exact average cost.

    Without capacity or binding order caps the cost is convex in S under backorders (it is
    K P(D > 0) + c E[D] + G(S), G convex) and, without fixed order cost, under lost sales
    (Janakiraman & Roundy 2004, Operations Research 52(5)); a local search from the backorder level
    S̄ then finds the optimum. Otherwise every S in 0..max_position is scored and the search goes on
    upwards while the cost falls.
    """
    cache: dict[int, float] = {}

    def cost(level: int) -> float:
        if level not in cache:
            cache[level] = base_stock_cost(inst, level)
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
