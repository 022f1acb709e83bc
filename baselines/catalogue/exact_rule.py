"""Each SKU's DP-optimal order under the coordinator's prices, looked up for all SKUs of a catalogue at once.

With prices lambda on the capacity and mu on the budget, SKU i is an ordinary stocking point with a
price lambda v_i per unit of stock the capacity measures and mu c_i per unit ordered
(:mod:`~stocklab.baselines.catalogue.priced`). Its optimal policy under those prices is what the
Lagrangian lower bound sums; a base-stock level is only an approximation of it (lost sales with a
lead time: a few percent off, Zipkin 2008, "Old and new methods for lost-sales inventory systems").
:func:`priced_policies` solves each SKU's DP at given prices (SKUs with equal configs, volumes and
costs share one solve); :class:`ExactOrders` looks up every SKU's optimal order in its own table with
one sorted search over all the tables (each SKU's states coded in its own mixed radix, shifted by
an offset), so that a catalogue of hundreds of SKUs decides without a Python loop over SKUs. A state
outside a SKU's truncated table (rare: a start state) asks that SKU's
:class:`~stocklab.baselines.exact.optimal_policy.OptimalPolicy` one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from stocklab.baselines.catalogue.priced import Measure, priced_solution
from stocklab.baselines.exact.limits import Deadline
from stocklab.baselines.exact.optimal_policy import OptimalPolicy
from stocklab.envs.config import EnvConfig
from stocklab.envs.core.errors import ConfigError
from stocklab.envs.core.obs import ObsSpec
from stocklab.envs.core.policy import ActionMap


def priced_policies(
    configs: Sequence[EnvConfig],
    volume: np.ndarray,
    unit_cost: np.ndarray,
    lam: float,
    mu: float,
    measure: Measure,
    *,
    max_states: int,
    deadline: Deadline | None = None,
) -> list[OptimalPolicy | None]:
    """Each SKU's optimal policy at prices (``lam`` per unit of volume, ``mu`` per unit of money).

    None for a SKU whose DP is outside the exact solver's scope or above ``max_states`` (it keeps
    its base-stock level).
    """
    solved: dict[tuple[str, float, float], OptimalPolicy | None] = {}
    out: list[OptimalPolicy | None] = []
    for config, v, c in zip(configs, volume, unit_cost, strict=True):
        key = (config.model_dump_json(), float(v), float(c))
        if key not in solved:
            try:
                sol = priced_solution(config, lam * float(v), mu * float(c), measure, max_states=max_states,
                                      deadline=deadline)  # fmt: skip
                solved[key] = OptimalPolicy(ObsSpec.for_config(config), ActionMap.for_config(config),
                                            sol.instance, sol.orders)  # fmt: skip
            except ConfigError:
                solved[key] = None
        out.append(solved[key])
    return out


class ExactOrders:
    """The optimal orders (units) of the SKUs that have a DP policy, from the catalogue's observations.

    ``policies[i]``: SKU i's :class:`OptimalPolicy` or None; ``spec``: the catalogue's (batch)
    observation layout. :attr:`index` lists the SKUs covered.
    """

    def __init__(self, policies: Sequence[OptimalPolicy | None], spec: ObsSpec) -> None:
        self.policies = list(policies)
        #: How the policies were made (prices, measure, max_states), for :meth:`params`.
        self.saved: dict[str, Any] = {}
        self.index = np.asarray([i for i, p in enumerate(self.policies) if p is not None], dtype=np.int64)
        self.spec = spec
        self._on_hand = spec.index("on_hand").start
        self._backlog = spec.index("backlog").start if spec.has("backlog") else None
        self._pipe = spec.index("pipeline") if spec.has("pipeline") else slice(0, 0)
        width = 1 + max((p.instance.pipeline_length for p in self.policies if p is not None), default=0)
        self.width = width
        los, radices, keys, orders, offsets = [], [], [], [], []
        offset = 0
        for i in self.index.tolist():
            p = self.policies[i]
            assert p is not None
            table = np.zeros((len(p.instance.states), width), dtype=np.int64)
            table[:, : p.instance.states.shape[1]] = p.instance.states
            lo = table.min(axis=0)
            radix = table.max(axis=0) - lo + 1
            code = np.ravel_multi_index(tuple((table - lo).T), radix) + offset
            los.append(lo)
            radices.append(radix)
            keys.append(code)
            orders.append(p.orders)
            offsets.append(offset)
            offset += int(np.prod(radix))
        self._lo = np.asarray(los, dtype=np.int64).reshape(-1, width)
        self._radix = np.asarray(radices, dtype=np.int64).reshape(-1, width)
        # C-order strides of each SKU's mixed radix: key = offset + sum_d rel_d * prod(radix[d+1:])
        tail = np.cumprod(self._radix[:, :0:-1], axis=1)[:, ::-1]
        self._strides = np.concatenate([tail, np.ones((len(self._radix), 1), dtype=np.int64)], axis=1)
        self._offset = np.asarray(offsets, dtype=np.int64)
        all_keys = np.concatenate(keys) if keys else np.empty(0, dtype=np.int64)
        order = np.argsort(all_keys, kind="stable")
        self._keys = all_keys[order]
        self._orders = (np.concatenate(orders) if orders else np.empty(0, dtype=np.int64))[order]

    def params(self) -> dict[str, Any]:
        """JSON-ready: the prices and DP bounds the policies were solved with, and the SKUs covered."""
        return {**self.saved, "skus": self.index.tolist()}

    def states(self, obs: np.ndarray) -> np.ndarray:
        """(len(index), width) DP states (x, p_0, ...) of the covered SKUs from catalogue observations."""
        o = np.asarray(obs)[self.index]
        states = np.zeros((len(self.index), self.width), dtype=np.int64)
        states[:, 0] = np.rint(o[:, self._on_hand])
        if self._backlog is not None:
            states[:, 0] -= np.rint(o[:, self._backlog]).astype(np.int64)
        pipe = np.rint(o[:, self._pipe]).astype(np.int64)[:, : self.width - 1]
        states[:, 1 : 1 + pipe.shape[1]] = pipe
        return states

    def orders(self, obs: np.ndarray) -> np.ndarray:
        """Optimal orders (int64 units) of the covered SKUs, in the order of :attr:`index`."""
        if not len(self.index):
            return np.empty(0, dtype=np.int64)
        states = self.states(obs)
        rel = states - self._lo
        inside: np.ndarray = np.all((rel >= 0) & (rel < self._radix), axis=1)
        rel = np.where(inside[:, None], rel, 0)
        keys = self._offset + (rel * self._strides).sum(axis=1)
        pos = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
        out = self._orders[pos].copy()
        for k in np.flatnonzero(~(inside & (self._keys[pos] == keys))).tolist():
            p = self.policies[int(self.index[k])]
            assert p is not None
            out[k] = p.order(tuple(int(v) for v in states[k, : 1 + p.instance.pipeline_length]))
        return out


def exact_orders(
    configs: Sequence[EnvConfig], volume: np.ndarray, unit_cost: np.ndarray, prices: Any, measure: Any,
    spec: ObsSpec, max_states: int,
) -> ExactOrders:  # fmt: skip
    """:class:`ExactOrders` of the per-SKU optimal policies at ``prices`` = (lambda, mu)."""
    lam, mu = (float(x) for x in prices)
    rule = ExactOrders(
        priced_policies(configs, volume, unit_cost, lam, mu, measure, max_states=max_states), spec
    )
    rule.saved = {"prices": [lam, mu], "measure": measure, "max_states": int(max_states)}
    return rule


__all__ = ["ExactOrders", "exact_orders", "priced_policies"]
