"""Exact long-run average cost of Markov chains and of deterministic stationary policies.

The chains are those of a policy on the DP's states (:func:`chain_average_cost`) and of any
deterministic stationary policy given as a function of the observation (:func:`evaluate_policy`).

No simulation: the chain's states are enumerated and its stationary distribution solved for.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order, connected_components
from scipy.sparse.linalg import splu

from stocklab.baselines.exact.keys import KeyIndex, PipelineKeys
from stocklab.baselines.exact.limits import Deadline, check_deadline
from stocklab.baselines.exact.model import DPInstance
from stocklab.envs.core.errors import ConfigError, PolicyError
from stocklab.envs.core.policy import Policy

#: Stationary probability above which a truncation (state floor, position bound) counts as binding.
MASS_TOL = 1e-9

#: How often :func:`policy_chain` lowers the backlog floor before it gives up.
MAX_WIDENINGS = 8

#: A lower backlog floor must cut the clipped mass to at most this share, else the backlog drifts down.
STALL_RATIO = 0.5

Actor = Callable[[np.ndarray], int]


class UnboundedChainError(PolicyError):
    """The policy lets the backlog grow without bound: its long-run average cost is infinite."""


def chain_average_cost(
    mat: sp.csr_matrix, cost: np.ndarray, start: int, deadline: Deadline | None = None
) -> tuple[float, np.ndarray]:
    """Long-run average cost per period of a finite Markov chain started in ``start``.

    Returns the cost and the limiting occupation probabilities of the states.
    Restricts the chain to the states reachable from ``start``, finds the closed classes (strongly
    connected components without exits), the stationary distribution of each by a sparse solve of
    pi (I - P) = 0 with one state's equation dropped and pi_0 = 1, and, with several classes, the
    probabilities of absorption into each from ``start`` (I - P_TT) a = P_TC 1.
    """
    mat = mat.tocsr()
    mat.sum_duplicates()
    mat.eliminate_zeros()
    reach = np.sort(breadth_first_order(mat, start, directed=True, return_predecessors=False))
    sub = mat if len(reach) == mat.shape[0] else mat[reach][:, reach].tocsr()
    n_comp, labels = connected_components(sub, directed=True, connection="strong")
    coo = sub.tocoo()
    cross = labels[coo.row] != labels[coo.col]
    is_open = np.zeros(n_comp, dtype=bool)
    is_open[labels[coo.row[cross]]] = True
    closed = np.flatnonzero(~is_open)
    s0 = int(np.searchsorted(reach, start))
    if len(closed) == 1:
        weights = np.ones(1)
    elif not is_open[labels[s0]]:
        weights = (closed == labels[s0]).astype(float)
    else:
        trans = np.flatnonzero(is_open[labels])
        a = (sp.identity(len(trans), format="csc") - sub[trans][:, trans]).tocsc()
        rhs = np.column_stack([np.asarray(sub[trans][:, labels == k].sum(axis=1)).ravel() for k in closed])
        weights = splu(a).solve(rhs)[int(np.searchsorted(trans, s0))]
    occ = np.zeros(len(reach))
    for k, w in zip(closed, np.atleast_1d(weights)):
        if w > 0:
            members = np.flatnonzero(labels == k)
            block = sub if len(members) == len(reach) else sub[members][:, members]
            occ[members] += w * _stationary(block, deadline=deadline)
    full = np.zeros(mat.shape[0])
    full[reach] = occ
    return float(full @ cost), full


def _stationary(
    q: sp.csr_matrix, direct_max: int = 500, max_iter: int = 20_000, deadline: Deadline | None = None
) -> np.ndarray:
    """Stationary distribution of an irreducible chain.

    A sparse LU solve for small chains; for large ones (where LU fill-in grows fast) power iteration
    on the damped chain 0.1 I + 0.9 P, which has the same stationary distribution and no periodicity,
    until the residual ||pi P - pi||_1 is below 1e-13 (LU as fallback). ``deadline`` is checked at
    every iteration.
    """
    n = q.shape[0]
    if n == 1:
        return np.ones(1)
    if n > direct_max:
        qt = q.T.tocsr()
        pi = np.full(n, 1.0 / n)
        for _ in range(max_iter):
            check_deadline(deadline, "stationary distribution (power iteration)")
            step = qt @ pi
            resid = np.abs(step - pi).sum()
            pi = 0.1 * pi + 0.9 * step
            if resid < 1e-13:
                return pi / pi.sum()
    # pi (I - P) = 0 with one (redundant) balance equation replaced by sum(pi) = 1; unlike fixing
    # pi_0 = 1 this stays well conditioned when state 0 is rare.
    a = sp.vstack([(sp.identity(n, format="csr") - q).T.tocsr()[1:], sp.csr_matrix(np.ones((1, n)))]).tocsc()
    rhs = np.zeros(n)
    rhs[-1] = 1.0
    pi = np.maximum(splu(a).solve(rhs), 0.0)
    return pi / pi.sum()


# ------------------------------------------------------------------------------- policy evaluation
@dataclass(frozen=True)
class ChainEvaluation:
    """Exact evaluation of a policy (:func:`policy_chain`).

    ``cost`` is the long-run average cost (money per period); ``states`` the states of the chain;
    ``levels`` the breadth-first levels it took to enumerate them; ``floor`` the lowest net inventory
    kept under backorders (units; None under lost sales) and ``truncation_mass`` the stationary
    probability per period of a transition clipped at that floor (at most :data:`MASS_TOL`).
    """

    cost: float
    states: int
    levels: int
    floor: int | None
    truncation_mass: float


def evaluate_policy(
    inst: DPInstance,
    policy: Policy | Actor,
    start: dict[str, Any] | None = None,
    *,
    max_states: int | None = None,
    deadline: Deadline | None = None,
) -> float:
    """Exact long-run average cost per period of a deterministic stationary policy.

    The cost of :func:`policy_chain`; see there for the arguments and the errors.
    """
    return policy_chain(inst, policy, start, max_states=max_states, deadline=deadline).cost


def policy_chain(
    inst: DPInstance,
    policy: Policy | Actor,
    start: dict[str, Any] | None = None,
    *,
    max_states: int | None = None,
    deadline: Deadline | None = None,
) -> ChainEvaluation:
    """Exact long-run average cost per period of a deterministic stationary policy, and its chain.

    ``policy`` is a :class:`Policy` (asked through ``predict``, a batch at a time) or any function
    from the env's observation vector to an action. Starting from ``start`` (a state dict with ``on_hand``, ``backlog``, ``pipeline``;
    default the env's initial state), the states the policy reaches are enumerated breadth first;
    each one's observation is built with the env's ObsSpec, the action turned into an order with the
    env's ActionMap, and the resulting Markov chain solved exactly (:func:`chain_average_cost`).

    **Backlog floor.** The demand pmf is truncated at d_top (``inst.tol``), but the states a policy
    reaches need not be finite: an (r, Q) policy whose largest order (Q times the batches max_order
    allows) is below d_top lets a run of top demands push the backlog down a few units per period,
    without end, though such runs have probability ~1e-9 per period. Enumerating that set breadth
    first adds a few states per level until ``max_states``: ``configs/backorder_ss.yaml`` (Q = 33,
    d_top = 35) hung there for hours, each level costing a pass over all the states found so far.
    So under backorders the net inventory is floored, as in the DP: a transition below the floor is
    clipped to it, the stationary probability of a clip (the clipped mass) is computed, and while it
    exceeds :data:`MASS_TOL` the floor is lowered, at most :data:`MAX_WIDENINGS` times. The first
    step is d_top; then the mass is taken to fall geometrically with the floor (it does for a
    positive recurrent chain) and the next floor extrapolated from the last two masses. When
    lowering the floor does not cut the mass by at least :data:`STALL_RATIO`, the chain is taken to
    drift down without end (UnboundedChainError): its long-run cost is infinite.

    Raises PolicyError for an action outside the action space or when more than ``max_states``
    (default ``inst.max_states``) states are reached, UnboundedChainError (a PolicyError) when the
    backlog grows without bound, TimeLimitError when ``deadline`` passes (checked at every level of
    the enumeration and every power iteration).
    """
    cfg = inst.config
    if cfg.observation.recent_demand:
        raise ConfigError("env.observation.recent_demand: exact evaluation needs observations made of the "
                          "stock state only; set it to 0")  # fmt: skip
    limit = inst.max_states if max_states is None else max_states
    s0 = inst.start_state(start)
    if inst.lost_sales:  # on hand >= 0: nothing to floor
        chain = _Explorer(inst, policy, s0, None, limit, deadline).run()
        cost, _ = chain_average_cost(chain.matrix(), chain.cost, 0, deadline)
        return ChainEvaluation(cost, chain.n, chain.levels, None, 0.0)
    return _with_backlog_floor(inst, policy, s0, limit, deadline)


def _with_backlog_floor(
    inst: DPInstance, policy: Policy | Actor, s0: tuple[int, ...], limit: int, deadline: Deadline | None
) -> ChainEvaluation:
    """:func:`policy_chain` under backorders: lower the backlog floor until the clipped mass is tiny."""
    floor = min(s0[0], int(inst.states[:, 0].min()) - inst.d_top)
    step, last = max(2, inst.d_top), None
    for _ in range(MAX_WIDENINGS + 1):
        chain = _Explorer(inst, policy, s0, floor, limit, deadline).run()
        cost, occ = chain_average_cost(chain.matrix(), chain.cost, 0, deadline)
        mass = float(occ @ chain.clip)
        if mass <= MASS_TOL:
            return ChainEvaluation(cost, chain.n, chain.levels, floor, mass)
        if last is not None:
            if mass > STALL_RATIO * last:
                break
            # mass ~ c rho^(-floor): lower the floor until c rho^(-floor) = MASS_TOL / 10
            rate = math.log(last / mass) / step
            step = max(step, math.ceil(math.log(10 * mass / MASS_TOL) / rate))
        floor, last = floor - step, mass
    raise UnboundedChainError(
        f"the policy lets the backlog grow without bound: the stationary probability of a backlog "
        f"clipped at {-floor:,} units is {mass:.2e} (> {MASS_TOL:g}), and lowering the floor does not "
        "shrink it; the policy has no finite long-run cost"
    )


class _Explorer:
    """Breadth-first enumeration of the states a policy reaches, with their transitions and costs."""

    def __init__(
        self,
        inst: DPInstance,
        policy: Policy | Actor,
        s0: tuple[int, ...],
        floor: int | None,
        limit: int,
        deadline: Deadline | None,
    ) -> None:
        self.inst, self.policy, self.floor, self.limit, self.deadline = inst, policy, floor, limit, deadline
        m = inst.pipeline_length
        start_pipe = np.asarray([s0[1:]], dtype=np.int64).reshape(1, m)
        # every pipeline entry is an order of at most max_order units, or a start entry
        radix = max(inst.config.max_order + 1, int(start_pipe.max(initial=0)) + 1)
        self.keys = PipelineKeys(inst, radix)
        self.front_x, self.front_pipe = np.asarray([s0[0]], dtype=np.int64), start_pipe
        self.index = KeyIndex(self.keys.encode(self.front_x, start_pipe))
        self.rows: list[np.ndarray] = []
        self.next_keys: list[np.ndarray] = []
        self.probs: list[np.ndarray] = []
        self.clips: list[np.ndarray] = []
        self.costs: list[tuple[np.ndarray, np.ndarray]] = []
        self.levels = 0

    @property
    def n(self) -> int:
        """States found so far."""
        return self.index.n

    def run(self) -> _Explorer:
        """Enumerate every reachable state; then :attr:`cost`, :attr:`clip` and :meth:`matrix` hold."""
        while len(self.front_x):
            check_deadline(self.deadline, f"exact evaluation of the policy ({self.n:,} states so far)")
            self._level()
        self.cost = np.zeros(self.n)
        self.clip = np.zeros(self.n)
        for ids, c in self.costs:
            self.cost[ids] = c
        np.add.at(self.clip, np.concatenate(self.rows), np.concatenate(self.clips))
        return self

    def matrix(self) -> sp.csr_matrix:
        """The transition matrix of the chain (states in the order they were found)."""
        cols = self.index.find(np.concatenate(self.next_keys))
        rows = np.concatenate(self.rows)
        return sp.csr_matrix((np.concatenate(self.probs), (rows, cols)), shape=(self.n, self.n))

    def _level(self) -> None:
        inst, x, pipe = self.inst, self.front_x, self.front_pipe
        q = self._orders(x, pipe)
        out = inst.outcomes(x, pipe, q)
        ids = self.index.find(self.keys.encode(x, pipe))
        r = out["row"]
        x_next = out["x_next"]
        clipped = np.zeros(len(r), dtype=bool)
        if self.floor is not None:
            clipped = x_next < self.floor
            x_next = np.maximum(x_next, self.floor)
        k_next = self.keys.encode_next(x_next, pipe, q, r)
        self.rows.append(ids[r])
        self.next_keys.append(k_next)
        self.probs.append(out["prob"])
        self.clips.append(out["prob"] * clipped)
        self.costs.append((ids, inst.row_cost(x, q)))
        new = self.index.add(k_next)
        if self.n > self.limit:
            raise PolicyError(f"the policy reaches more than {self.limit:,} states (does it let the "
                              "stock or backlog grow without bound?)")  # fmt: skip
        self.front_x, self.front_pipe = self.keys.decode(new)
        self.levels += 1

    def _orders(self, x: np.ndarray, pipe: np.ndarray) -> np.ndarray:
        """The policy's order (units) in each state (x, pipeline), through the env's ActionMap.

        A :class:`Policy` is asked for the whole front at once (``predict`` on a batch: one forward
        pass for a neural network), a plain function state by state.
        """
        inst = self.inst
        obs = inst.observations(x, pipe)
        if isinstance(self.policy, Policy):
            actions = np.asarray(self.policy.predict(obs)[0]).reshape(-1).astype(np.int64)
        else:
            actions = np.fromiter((int(self.policy(o)) for o in obs), dtype=np.int64, count=len(obs))
        bad = np.flatnonzero((actions < 0) | (actions >= inst.n_actions))
        if len(bad):
            i = int(bad[0])
            raise PolicyError(f"policy returned action {actions[i]} for observation {obs[i].tolist()}; "
                              f"the action space is 0..{inst.n_actions - 1}")  # fmt: skip
        ip = (x + pipe.sum(axis=1)).tolist()
        amap = inst.action_map
        return np.asarray(
            [amap.order(int(a), float(p)) for a, p in zip(actions.tolist(), ip)], dtype=np.int64
        )
