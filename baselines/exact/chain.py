"""Exact long-run average cost of Markov chains, from policy chains on the DP's states.

Covers a policy's chain on the DP's states and any deterministic stationary policy given as a
function of the observation (:func:`evaluate_policy`).

No simulation: the chain's states are enumerated and its stationary distribution solved for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order, connected_components
from scipy.sparse.linalg import splu

from stocklab.baselines.exact.model import DPInstance
from stocklab.envs.core.errors import ConfigError, PolicyError
from stocklab.envs.core.policy import Policy


def chain_average_cost(mat: sp.csr_matrix, cost: np.ndarray, start: int) -> tuple[float, np.ndarray]:
    """Long-run average cost per period of a finite Markov chain started in ``start``.

    Also returns the limiting occupation probabilities of its states.

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
            occ[members] += w * _stationary(block)
    full = np.zeros(mat.shape[0])
    full[reach] = occ
    return float(full @ cost), full


def _stationary(q: sp.csr_matrix, direct_max: int = 500, max_iter: int = 20_000) -> np.ndarray:
    """Stationary distribution of an irreducible chain.

    A sparse LU solve for small chains; for large ones (where LU fill-in grows fast) power iteration on the
    damped chain 0.1 I + 0.9 P, which has the same stationary distribution and no periodicity, until the
    residual ||pi P - pi||_1 is below 1e-13 (LU as fallback).
    """
    n = q.shape[0]
    if n == 1:
        return np.ones(1)
    if n > direct_max:
        qt = q.T.tocsr()
        pi = np.full(n, 1.0 / n)
        for _ in range(max_iter):
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


def evaluate_policy(
    inst: DPInstance, policy: Policy | Callable[[np.ndarray], int], start: dict[str, Any] | None = None
) -> float:
    """Exact long-run average cost per period of a deterministic stationary policy.

    ``policy`` is a :class:`Policy` (its ``act``) or any function from the env's observation vector
    to an action. Starting from ``start`` (a state dict with ``on_hand``, ``backlog``, ``pipeline``;
    default the env's initial state), the states the policy reaches are enumerated breadth first;
    each one's observation is built with the env's ObsSpec, the action turned into an order with the
    env's ActionMap, and the resulting Markov chain solved exactly (:func:`chain_average_cost`).
    Only the demand pmf is truncated (``inst.tol``). Raises PolicyError for an action outside the
    action space or when more than ``inst.max_states`` states are reached.
    """
    cfg = inst.config
    if cfg.observation.recent_demand:
        raise ConfigError("env.observation.recent_demand: exact evaluation needs observations made of the "
                          "stock state only; set it to 0")  # fmt: skip
    act = policy.act if isinstance(policy, Policy) else policy
    amap = inst.action_map
    m = inst.pipeline_length
    radix = cfg.max_order + 1  # every pipeline entry is an order of at most max_order units
    offset = 1 << 24

    def keys(x: np.ndarray, code: np.ndarray) -> np.ndarray:
        return (x + offset) * radix**m + code

    s0 = inst.start_state(start)
    start_pipe = np.asarray([s0[1:]], dtype=np.int64).reshape(1, m)
    radix = max(radix, int(start_pipe.max(initial=0)) + 1)
    if (2 * offset) * float(radix) ** m >= 2.0**62:
        raise ConfigError(f"env.lead_time: a pipeline of {m} entries up to {radix - 1} units is too large")
    known_sorted = keys(np.asarray([s0[0]]), inst.pipe_codes(start_pipe, radix))
    known_index = np.zeros(1, dtype=np.int64)
    front_x, front_pipe = np.asarray([s0[0]]), start_pipe
    rows, nxt, probs, costs = [], [], [], []
    n = 1
    while len(front_x):
        ip = front_x + front_pipe.sum(axis=1)
        obs = inst.observations(front_x, front_pipe)
        q = np.empty(len(front_x), dtype=np.int64)
        for i in range(len(front_x)):
            a = int(act(obs[i]))
            if not 0 <= a < inst.n_actions:
                raise PolicyError(f"policy returned action {a} for observation {obs[i].tolist()}; "
                                  f"the action space is 0..{inst.n_actions - 1}")  # fmt: skip
            q[i] = amap.order(a, float(ip[i]))
        out = inst.outcomes(front_x, front_pipe, q)
        ids = known_index[np.searchsorted(known_sorted, keys(front_x, inst.pipe_codes(front_pipe, radix)))]
        r = out["row"]
        k_next = keys(out["x_next"], inst.rest_codes(front_pipe, q, radix)[r])
        rows.append(ids[r])
        nxt.append(k_next)
        probs.append(out["prob"])
        costs.append((ids, inst.row_cost(front_x, q)))
        new = np.unique(k_next)
        pos = np.minimum(np.searchsorted(known_sorted, new), len(known_sorted) - 1)
        new = new[known_sorted[pos] != new]
        if n + len(new) > inst.max_states:
            raise PolicyError(f"the policy reaches more than {inst.max_states:,} states (does it let the "
                              "stock or backlog grow without bound?)")  # fmt: skip
        order = np.argsort(np.concatenate([known_sorted, new]), kind="stable")
        known_sorted = np.concatenate([known_sorted, new])[order]
        known_index = np.concatenate([known_index, np.arange(n, n + len(new))])[order]
        n += len(new)
        front_x, front_pipe = _decode(new, offset, radix, m)
    cost = np.zeros(n)
    for ids, c in costs:
        cost[ids] = c
    cols = known_index[np.searchsorted(known_sorted, np.concatenate(nxt))]
    mat = sp.csr_matrix((np.concatenate(probs), (np.concatenate(rows), cols)), shape=(n, n))
    return chain_average_cost(mat, cost, 0)[0]


def _decode(k: np.ndarray, offset: int, radix: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    pipe = np.zeros((len(k), m), dtype=np.int64)
    rest = k.copy()
    for j in range(m - 1, -1, -1):
        rest, pipe[:, j] = np.divmod(rest, radix)
    return rest - offset, pipe
