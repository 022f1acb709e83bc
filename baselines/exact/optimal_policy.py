"""The DP's optimal policy as a lookup table from the stock state to the order."""

from __future__ import annotations

from typing import Any

import numpy as np

from stocklab.baselines.exact.model import DPInstance
from stocklab.envs.core.obs import ObsSpec
from stocklab.envs.core.policy import ActionMap, Policy


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

    def act_batch(self, observations: np.ndarray) -> np.ndarray:
        """Actions for a batch of observations ((B, n) -> (B,)), looked up in the table at once.

        States outside the table (rare: start states, backlog beyond the DP's floor) take :meth:`act`.
        """
        obs = np.asarray(observations)
        states = np.zeros((len(obs), 1 + self._m), dtype=np.int64)
        states[:, 0] = np.rint(obs[:, self._on_hand])
        if self._backlog is not None:
            states[:, 0] -= np.rint(obs[:, self._backlog]).astype(np.int64)
        pipe = np.rint(obs[:, self._pipe]).astype(np.int64)[:, : self._m]
        states[:, 1 : 1 + pipe.shape[1]] = pipe
        if not hasattr(self, "_sorted_keys"):  # the table's states as mixed-radix codes, sorted
            table = self.instance.states
            self._lo, self._radix = table.min(axis=0), table.max(axis=0) - table.min(axis=0) + 1
            codes = np.ravel_multi_index(tuple((table - self._lo).T), self._radix)
            order = np.argsort(codes)
            self._sorted_keys, self._sorted_orders = codes[order], self.orders[order]
        inside = ((states >= self._lo) & (states < self._lo + self._radix)).all(axis=1)
        keys = np.ravel_multi_index(
            tuple((np.where(inside[:, None], states, self._lo) - self._lo).T), self._radix
        )
        pos = np.minimum(np.searchsorted(self._sorted_keys, keys), len(self._sorted_keys) - 1)
        actions = self.action_map.actions(self._sorted_orders[pos], obs[:, self._ip])
        for i in np.flatnonzero(~(inside & (self._sorted_keys[pos] == keys))).tolist():
            actions[i] = self.act(obs[i])
        return actions

    def act(self, observation: np.ndarray) -> int:
        """The optimal action for one observation (its state looked up, see :meth:`order`)."""
        x = int(round(float(observation[self._on_hand])))
        if self._backlog is not None:
            x -= int(round(float(observation[self._backlog])))
        pipe = [int(round(float(v))) for v in observation[self._pipe]][: self._m]
        state = (x, *pipe, *([0] * (self._m - len(pipe))))
        return self.action_map.action(self.order(state), self.inventory_position(observation))

    def params(self) -> dict[str, Any]:
        """Size of the table and its position bound."""
        return {"states": int(len(self.orders)), "max_position": self.instance.max_position}

    def table(self) -> dict[str, Any]:
        """The policy as JSON-ready data: state field names, one row per state, the order (units)."""
        names = ["on_hand" if self.instance.lost_sales else "net_inventory"]
        names += [f"pipeline[{k}]" for k in range(self._m)]
        return {"fields": names, "states": self.instance.states.tolist(), "orders": self.orders.tolist()}

    @property
    def exportable(self) -> str | None:
        """Exported as the table itself (``dp_table``)."""
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
