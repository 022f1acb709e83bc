"""Single-SKU policies acting together on a catalogue's batch of observations, as array arithmetic.

A catalogue policy built from one classic policy per SKU (:class:`SkuRules`) must decide for
hundreds of SKUs every period; calling each SKU's policy in a Python loop would cost more than the
engine's whole step. :class:`SkuRules` groups the SKUs by policy class and applies each class's rule
to all its SKUs at once, with the parameters as (n,) arrays: exactly the orders each SKU's own
policy would place (``tests/baselines/test_catalogue_per_sku.py`` checks it row by row). Policies
without an array form (the LP policy, a DP table) are stepped SKU by SKU on their own observation
layout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from stocklab.baselines.policies.classic import RQ, SS, BaseStock, CappedBaseStock, ConstantOrder, Newsvendor
from stocklab.envs.core.obs import FORECAST_MEAN, FORECAST_STD, ObsSpec
from stocklab.envs.core.policy import ActionMap, Policy


def _ints(values: Sequence[Any]) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


class _Group:
    """SKUs ``index`` whose policies share one class, with that class's parameters as arrays."""

    def __init__(self, index: np.ndarray, policies: list[Policy]) -> None:
        self.index = index
        self.policies = policies

    def wanted(self, ip: np.ndarray, obs: np.ndarray, spec: ObsSpec) -> np.ndarray:
        """Units wanted at whole inventory positions ``ip`` (before the action map's limits)."""
        raise NotImplementedError


class _BaseStock(_Group):
    def __init__(self, index: np.ndarray, policies: list[Policy]) -> None:
        super().__init__(index, policies)
        self.level = _ints([p.level for p in policies])  # type: ignore[attr-defined]

    def wanted(self, ip: np.ndarray, obs: np.ndarray, spec: ObsSpec) -> np.ndarray:
        return np.maximum(self.level - ip, 0)


class _SS(_Group):
    def __init__(self, index: np.ndarray, policies: list[Policy]) -> None:
        super().__init__(index, policies)
        self.s = _ints([p.s for p in policies])  # type: ignore[attr-defined]
        self.S = _ints([p.S for p in policies])  # type: ignore[attr-defined]

    def wanted(self, ip: np.ndarray, obs: np.ndarray, spec: ObsSpec) -> np.ndarray:
        return np.where(ip <= self.s, self.S - ip, 0)


class _RQ(_Group):
    def __init__(self, index: np.ndarray, policies: list[Policy]) -> None:
        super().__init__(index, policies)
        self.r = _ints([p.r for p in policies])  # type: ignore[attr-defined]
        self.Q = _ints([p.Q for p in policies])  # type: ignore[attr-defined]
        self.batches = _ints([p._max_batches for p in policies])  # type: ignore[attr-defined]

    def wanted(self, ip: np.ndarray, obs: np.ndarray, spec: ObsSpec) -> np.ndarray:
        n = np.minimum(-((ip - self.r - 1) // self.Q), self.batches)
        return np.where(ip > self.r, 0, n * self.Q)


class _Capped(_Group):
    def __init__(self, index: np.ndarray, policies: list[Policy]) -> None:
        super().__init__(index, policies)
        self.level = _ints([p.level for p in policies])  # type: ignore[attr-defined]
        self.cap = _ints([p.cap for p in policies])  # type: ignore[attr-defined]

    def wanted(self, ip: np.ndarray, obs: np.ndarray, spec: ObsSpec) -> np.ndarray:
        return np.minimum(np.maximum(self.level - ip, 0), self.cap)


class _Constant(_Group):
    def __init__(self, index: np.ndarray, policies: list[Policy]) -> None:
        super().__init__(index, policies)
        self.quantity = _ints([p.quantity for p in policies])  # type: ignore[attr-defined]

    def wanted(self, ip: np.ndarray, obs: np.ndarray, spec: ObsSpec) -> np.ndarray:
        return self.quantity.copy()


class _Newsvendor(_Group):
    """Newsvendor levels: constant, or recomputed each period from the observation's forecast fields.

    The forecast level follows :meth:`Newsvendor.current_level`: mu = sum of the forecast means of the
    L + 1 periods t .. t + L (the forecast extended by its last value), S = ceil(mu + z_f sigma) with
    the forecast standard deviations, or the f-quantile of Poisson(mu) without them.
    """

    def __init__(self, index: np.ndarray, policies: list[Policy]) -> None:
        super().__init__(index, policies)
        self.level = _ints([p.level for p in policies])  # type: ignore[attr-defined]
        self.fractile = np.asarray([p.fractile for p in policies])  # type: ignore[attr-defined]
        self.cover = _ints([p.lead_time for p in policies]) + 1  # type: ignore[attr-defined]
        self.varying = policies[0].forecast.varying  # type: ignore[attr-defined]
        self.z = stats.norm.ppf(self.fractile)

    def wanted(self, ip: np.ndarray, obs: np.ndarray, spec: ObsSpec) -> np.ndarray:
        if not self.varying:
            return np.maximum(self.level - ip, 0)
        means = np.maximum(np.asarray(obs[:, spec.index(FORECAST_MEAN)], dtype=float), 0.0)
        mean = _cover_sum(means, self.cover)
        if spec.has(FORECAST_STD):
            stds = np.maximum(np.asarray(obs[:, spec.index(FORECAST_STD)], dtype=float), 0.0)
            std = np.sqrt(_cover_sum(stds**2, self.cover))
            level = np.maximum(0, np.ceil(mean + self.z * std - 1e-9))
        else:
            level = np.where(mean > 0, stats.poisson.ppf(self.fractile, np.maximum(mean, 1e-300)), 0)
        return np.maximum(level.astype(np.int64) - ip, 0)


def _cover_sum(values: np.ndarray, cover: np.ndarray) -> np.ndarray:
    """Sum of the first ``cover[i]`` entries of row i, the row extended by its last entry (the forecast)."""
    width = values.shape[1]
    inside = np.minimum(cover, width)
    csum = np.cumsum(values, axis=1)
    rows = np.arange(len(values))
    return csum[rows, inside - 1] + np.maximum(cover - width, 0) * values[:, -1]


class _Loop(_Group):
    """Policies without an array form: each acts on its own observation layout, one SKU at a time."""

    def wanted(self, ip: np.ndarray, obs: np.ndarray, spec: ObsSpec) -> np.ndarray:
        out = np.empty(len(self.index), dtype=np.int64)
        for k, policy in enumerate(self.policies):
            own = policy.obs_spec.vector(spec.to_dict(obs[k]))
            out[k] = policy.action_map.order(policy.act(own), float(ip[k]))
        return out

    def reset(self) -> None:
        for policy in self.policies:
            policy.reset()


#: Array forms by policy class (exact classes: a subclass may change the rule).
_ARRAY_FORMS: dict[type, type[_Group]] = {
    BaseStock: _BaseStock, SS: _SS, RQ: _RQ, CappedBaseStock: _Capped, ConstantOrder: _Constant,
    Newsvendor: _Newsvendor,
}  # fmt: skip


class SkuRules:
    """One single-SKU policy per SKU, deciding for all SKUs at once.

    ``policies[i]`` is SKU i's policy (built for its own EnvConfig); ``action_map`` the catalogue's
    (per-SKU ``max_order`` / ``max_level`` arrays) and ``spec`` the observation layout of the batch.
    :meth:`orders` returns the units each SKU's policy orders, through its action map.
    """

    def __init__(self, policies: Sequence[Policy], action_map: ActionMap, spec: ObsSpec) -> None:
        self.policies = list(policies)
        self.action_map = action_map
        self.spec = spec
        self._ip = spec.index("inventory_position").start
        by_class: dict[Any, list[int]] = {}
        for i, policy in enumerate(self.policies):
            form = _ARRAY_FORMS.get(type(policy), _Loop)
            key: Any = form
            if form is _Newsvendor:  # constant and forecast-driven newsvendors apart
                source = policy.forecast  # type: ignore[attr-defined]
                if source.varying and not spec.has(FORECAST_MEAN):
                    key = _Loop  # a forecast hook, not the observation's forecast: step it per SKU
                else:
                    key = (form, source.varying)
            by_class.setdefault(key, []).append(i)
        self.groups: list[_Group] = []
        for key, members in by_class.items():
            form = key[0] if isinstance(key, tuple) else key
            self.groups.append(form(np.asarray(members), [self.policies[i] for i in members]))

    def reset(self) -> None:
        """Start a new episode for every SKU's policy."""
        for policy in self.policies:
            policy.reset()

    def orders(self, obs: np.ndarray) -> np.ndarray:
        """Units ordered by each SKU's policy ((N, obs_size) observations -> (N,) int64)."""
        ip = np.rint(obs[:, self._ip]).astype(np.int64)
        wanted = np.empty(len(ip), dtype=np.int64)
        for group in self.groups:
            i = group.index
            wanted[i] = group.wanted(ip[i], obs[i], self.spec)
        amap = self.action_map
        return amap.orders(amap.actions(wanted, ip), ip)

    def params(self) -> list[dict[str, Any]]:
        """Each SKU's parameters, in catalogue order (JSON-ready)."""
        return [_jsonable(p.params()) for p in self.policies]


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in params.items():
        if isinstance(v, np.integer):
            v = int(v)
        elif isinstance(v, np.floating):
            v = float(v)
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        out[k] = v
    return out
