"""The finite Markov decision process (MDP) of one stocking point, for the exact dynamic programme.

A state is the stock observed at the decision epoch of a period (after that period's arrivals), in
whole units: ``x`` = units on hand (lost sales) or net inventory = on hand - backlog (backorders),
and for a fixed lead time L >= 2 the pipeline ``(p_0, ..., p_{L-2})``, p_k = units arriving at the
start of the period k + 1 periods ahead (the env's ObsSpec ``pipeline``). The transitions follow the
simulator's timing exactly (envs/simulator.py): with order q and demand D,

* L >= 1: e = max(x - D, 0) (lost) or x - D (backorders) is the end-of-period stock, charged
  h * max(e, 0) + p * (units lost or backlog max(-e, 0)); then ``p_0`` (or q when L = 1) arrives:
  x' = min(capacity, e + p_0), pipeline' = (p_1, ..., p_{L-2}, q);
* L = 0: the order arrives before the demand: y = min(capacity, x + q) serves D, x' = e(y).

Both modes share the one-period cost L(y) = h E(y - D)^+ + p E(D - y)^+ of the stock y facing the
demand, plus K [q > 0] + c q for the order.

**Truncation.** Demand above ``d_top`` (tail mass <= ``tol``) is folded into ``d_top`` (the pmf of
``config.demand.pmf(tol)``). Orders are restricted to keep the inventory position after ordering
z = x + sum(pipeline) + q at most ``max_position`` U; the states are those with position in
[``min_position``, U]. The default U is the base-stock level S̄ of the backorder system, the
p/(p + h) fractile of the demand over L + 1 periods (the newsvendor solution for the period an order
placed now is consumed), and with K > 0 the largest z with G(z) <= G(S̄) + K, G the expected cost of the
period in which an order placed now is consumed. Why that is safe:

* backorders, K = 0: the base-stock level S̄ is optimal (from position >= S̄ - d_top it orders at
  most d_top units);
* backorders, K > 0: the optimal (s, S) policy has G(s) >= g*, G(S) <= g* and g* <= G(S̄) + K
  (Zheng & Federgruen 1991, Operations Research 39(4)), so s + 1 and S lie in [lo, U];
* lost sales, K = 0: the optimal position after ordering never exceeds S̄ (Morton 1969, SIAM Review
  11(4); Zipkin 2008, Operations Research 56(5)). A unit cost c only lowers the
  effective penalty p - c, so S̄ computed with p stays an upper bound.

These hold when orders are not otherwise limited (``max_order`` >= U - ``min_position``, no
``capacity``, ``max_level`` >= U). Elsewhere (also lost sales with K > 0) the bound is a heuristic
that the solver checks: it reports the stationary probability of states whose optimal order
is cut by U and widens U when that is positive. Under backorders the net inventory is floored at
``min_position`` = lo - d_top (position lo - d_top is the lowest one an (s, S) policy with s + 1 >= lo
visits); a transition below it is clipped and its probability reported as truncation mass.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from stocklab.baselines.exact.limits import MAX_STATES, DPLimits
from stocklab.baselines.exact.space import (
    DPSize,
    Space,
    check_scope,
    check_size,
    check_span,
    enumerate_states,
    estimate_size,
    order_bounds,
    position_bounds,
)
from stocklab.envs.config import EnvConfig, parse_env_config
from stocklab.envs.core.errors import ConfigError
from stocklab.envs.core.obs import ObsSpec
from stocklab.envs.core.policy import ActionMap

__all__ = ["MAX_STATES", "DPInstance", "check_scope", "position_bounds"]

#: Keyword bounds :meth:`DPInstance.from_config` accepts.
BOUND_KEYS = ("max_position", "min_position", "max_states", "max_bytes")


@dataclass(frozen=True, eq=False)
class DPInstance:
    """The finite MDP of an env config: demand pmf, costs, bounds and the enumerated state space.

    ``states`` is an (n_states, 1 + m) int64 array of (x, p_0, ..., p_{m-1}), m = max(L - 1, 0),
    sorted by pipeline and then x, so that the states of one pipeline tuple form a block of
    consecutive x values. Build it with :meth:`from_config`.
    """

    config: EnvConfig
    pmf: np.ndarray
    tol: float
    lead_time: int
    lost_sales: bool
    base_stock_level: int
    max_position: int
    min_position: int
    bound_proven: bool
    max_states: int
    max_bytes: int | None
    size: DPSize
    states: np.ndarray = field(repr=False)
    radix: int = field(repr=False)
    combo_codes: np.ndarray = field(repr=False)
    combo_start: np.ndarray = field(repr=False)
    combo_xlo: np.ndarray = field(repr=False)
    combo_xhi: np.ndarray = field(repr=False)

    # ------------------------------------------------------------ building
    @classmethod
    def from_config(cls, config: EnvConfig | dict[str, Any], tol: float = 1e-9, **bounds: Any) -> DPInstance:
        """The DP of ``config``; ``tol`` is the demand tail mass folded into the largest demand.

        ``bounds`` may set ``max_position`` (U, units), ``min_position`` (backorders: lowest
        inventory position kept, units), ``max_states`` (default 500,000) and ``max_bytes`` (estimated
        peak memory, default half the available memory, see :mod:`~stocklab.baselines.exact.limits`).
        The size is counted before anything is allocated (:meth:`measure`): ResourceLimitError (a
        ConfigError) gives the states and bytes needed and the limits. Raises ConfigError naming the
        field when the config is outside the DP's scope.
        """
        plan = _Plan.of(config, tol, bounds)
        return cls(
            plan.config, plan.pmf, tol, plan.space.lead, plan.space.lost, plan.s_bar, plan.space.upper,
            plan.space.lower, plan.proven, plan.limits.max_states, plan.limits.max_bytes, plan.size,
            *enumerate_states(plan.space),
        )  # fmt: skip

    @staticmethod
    def measure(config: EnvConfig | dict[str, Any], tol: float = 1e-9, **bounds: Any) -> DPSize:
        """The size of the DP :meth:`from_config` would build, without building it.

        Checked against the limits in ``bounds``: same keys and errors as :meth:`from_config`.
        """
        return _Plan.of(config, tol, bounds).size

    def with_bounds(self, **bounds: Any) -> DPInstance:
        """The same instance with other bounds (the others kept)."""
        keep = {"max_position": self.max_position, "max_states": self.max_states, "max_bytes": self.max_bytes}
        if not self.lost_sales:
            keep["min_position"] = self.min_position
        inst = DPInstance.from_config(self.config, self.tol, **(keep | bounds))
        return replace(inst, bound_proven=self.bound_proven and inst.max_position >= self.max_position)

    # ---------------------------------------------------------------- shape
    @property
    def n_states(self) -> int:
        """Number of states."""
        return len(self.states)

    @property
    def pipeline_length(self) -> int:
        """M = max(L - 1, 0), the number of pipeline entries in a state."""
        return self.states.shape[1] - 1

    @property
    def d_top(self) -> int:
        """Largest demand of the truncated pmf (units per period)."""
        return len(self.pmf) - 1

    @property
    def obs_spec(self) -> ObsSpec:
        """The observation layout of the env."""
        return ObsSpec.for_config(self.config)

    @property
    def action_map(self) -> ActionMap:
        """The env's action map (order quantity <-> action)."""
        return ActionMap.for_config(self.config)

    @property
    def n_actions(self) -> int:
        """Size of the env's Discrete action space."""
        act = self.config.action
        return ((act.max_level or 0) if act.mode == "order_up_to" else self.config.max_order) + 1

    def start_state(self, start: dict[str, Any] | None = None) -> tuple[int, ...]:
        """The state tuple of a state dict (``on_hand``, ``backlog``, ``pipeline``).

        The default is the env's initial state.
        """
        init = self.config.initial
        state: dict[str, Any] = dict(start) if start is not None else {
            "on_hand": init.on_hand, "backlog": init.backlog, "pipeline": list(init.pipeline)
        }  # fmt: skip
        pipe = [int(v) for v in state.get("pipeline", []) or []]
        m = self.pipeline_length
        if len(pipe) > m or any(v < 0 for v in pipe):
            raise ConfigError(f"start.pipeline: {pipe} must hold at most {m} non-negative values")
        x = int(state.get("on_hand", 0)) - (0 if self.lost_sales else int(state.get("backlog", 0)))
        return (x, *pipe, *([0] * (m - len(pipe))))

    # --------------------------------------------------------- state index
    def rest_codes(self, pipe: np.ndarray, q: np.ndarray, radix: int) -> np.ndarray:
        """Mixed-radix code of the next pipeline (p_1, ..., p_{m-1}, q); 0 when m = 0."""
        m = pipe.shape[1]
        if m == 0:
            return np.zeros(len(q), dtype=np.int64)
        code = np.zeros(len(q), dtype=np.int64)
        for k in range(1, m):
            code = code * radix + pipe[:, k]
        return code * radix + q

    def pipe_codes(self, pipe: np.ndarray, radix: int | None = None) -> np.ndarray:
        """Mixed-radix code of pipelines (rows of ``pipe``), default radix ``self.radix``."""
        radix = self.radix if radix is None else radix
        code = np.zeros(len(pipe), dtype=np.int64)
        for k in range(pipe.shape[1]):
            code = code * radix + pipe[:, k]
        return code

    def combo_ids(self, codes: np.ndarray) -> np.ndarray:
        """Index of each pipeline code in ``combo_codes`` (-1 when the pipeline is not in the space)."""
        pos = np.searchsorted(self.combo_codes, codes)
        pos = np.minimum(pos, len(self.combo_codes) - 1)
        return np.where(self.combo_codes[pos] == codes, pos, -1)

    def index(self, state: tuple[int, ...]) -> int:
        """Index of a state tuple, or -1 when it is outside the truncated space."""
        pipe = np.asarray([state[1:]], dtype=np.int64).reshape(1, -1)
        if pipe.size and (pipe.min() < 0 or pipe.max() >= self.radix):
            return -1
        c = int(self.combo_ids(self.pipe_codes(pipe))[0])
        x = int(state[0])
        if c < 0 or not self.combo_xlo[c] <= x <= self.combo_xhi[c]:
            return -1
        return int(self.combo_start[c] + x - self.combo_xlo[c])

    # ---------------------------------------------------------- observation
    def observations(self, x: np.ndarray, pipe: np.ndarray) -> np.ndarray:
        """Observation vectors (rows, float32, the env's ObsSpec layout) of states (x, pipeline)."""
        spec = self.obs_spec
        obs = np.zeros((len(x), spec.size), dtype=np.float32)
        if self.lost_sales:
            obs[:, spec.index("on_hand")] = x[:, None]
        else:
            obs[:, spec.index("on_hand")] = np.maximum(x, 0)[:, None]
            obs[:, spec.index("backlog")] = np.maximum(-x, 0)[:, None]
        if spec.has("pipeline"):
            obs[:, spec.index("pipeline")] = pipe
        obs[:, spec.index("inventory_position")] = (x + pipe.sum(axis=1))[:, None]
        return obs

    # --------------------------------------------------------------- costs
    def period_cost(self, y: np.ndarray) -> np.ndarray:
        """L(y) = h E(y - D)^+ + p E(D - y)^+, the expected holding + shortage cost of a period.

        y is the stock available to the period (net inventory under backorders, units); cost per period.
        """
        values, inverse = np.unique(np.asarray(y), return_inverse=True)
        if len(values) < len(inverse):  # few distinct stock levels: compute each once
            return self.period_cost(values)[inverse.reshape(np.shape(y))]
        d = np.arange(len(self.pmf))
        mean = float(d @ self.pmf)
        inside = np.clip(y, 0, self.d_top)
        over = np.maximum(inside[:, None] - d[None, :], 0) @ self.pmf  # E(clip(y, 0, d_top) - D)^+
        over = over + np.maximum(y - self.d_top, 0)  # for y >= d_top, E(y - D)^+ = y - mean
        under = over - (y - mean)  # E(D - y)^+ = E(y - D)^+ - (y - E D)
        c = self.config.costs
        return c.holding * over + c.shortage * under

    def order_range(self, x: np.ndarray, ip: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Orders the DP considers in each state: (lowest, highest, highest the env allows).

        See :func:`stocklab.baselines.exact.space.order_bounds`.
        """
        return order_bounds(self.config, self.max_position, ip)

    def available(self, x: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Stock facing the period's demand: x, or min(capacity, x + q) when L = 0 (units)."""
        if self.lead_time:
            return x
        cap = self.config.capacity
        return x + q if cap is None else np.minimum(cap, x + q)

    def row_cost(self, x: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Expected cost of a period that starts in stock x and orders q: K [q > 0] + c q + L(avail)."""
        c = self.config.costs
        return self.period_cost(self.available(x, q)) + c.fixed_order * (q > 0) + c.unit_order * q

    def post_keys(self, x: np.ndarray, pipe: np.ndarray, q: np.ndarray) -> np.ndarray | None:
        """Keys of the post-decision states: rows with one key share their next-state distribution.

        Under backorders (and with L = 0) the next stock is w - D (capped) with w = x + arriving
        units, so rows differ only through (w, next pipeline); lost sales with L >= 1 need (x, p_0)
        apart and every row is its own post-decision state (None).
        """
        if self.lost_sales and self.lead_time:
            return None
        arrive = self.available(x, q) if self.lead_time == 0 else x + (pipe[:, 0] if pipe.shape[1] else q)
        rest = self.rest_codes(pipe, q, self.radix)
        base = self.min_position - (pipe.shape[1] + 1) * self.radix  # below any x + arriving units
        return rest * (self.max_position - base + self.radix + 1) + (arrive - base)

    def outcomes(self, x: np.ndarray, pipe: np.ndarray, q: np.ndarray) -> dict[str, np.ndarray]:
        """The random outcomes of (state, order) rows.

        For each outcome its ``row``, probability ``prob`` and next on-hand / net stock ``x_next``
        (the next pipeline is (p_1, ..., q)).

        Lost sales: demands >= the available stock lead to the same next state and are merged.
        """
        cap = self.config.capacity
        avail = self.available(x, q)
        if self.lead_time == 0:
            arrive = np.zeros_like(q)
        else:
            arrive = pipe[:, 0] if pipe.shape[1] else q
        d_top = self.d_top
        if self.lost_sales:
            k = np.clip(avail, 0, d_top)  # outcomes d = 0..k, the last one meaning "D >= k"
            n_out = k + 1
        else:
            n_out = np.full(len(q), d_top + 1)
        row = np.repeat(np.arange(len(q)), n_out)
        first = np.cumsum(n_out) - n_out
        d = np.arange(len(row)) - np.repeat(first, n_out)
        if self.lost_sales:
            tail = np.concatenate([np.cumsum(self.pmf[::-1])[::-1], [0.0]])  # tail[j] = P(D >= j)
            prob = np.where(d == k[row], tail[d], self.pmf[d])
            e = np.maximum(avail[row] - d, 0)
        else:
            prob = self.pmf[d]
            e = avail[row] - d
        x_next = e if self.lead_time == 0 else e + arrive[row]
        if cap is not None:
            x_next = np.minimum(cap, x_next)
        return {"row": row, "prob": prob, "x_next": x_next}


@dataclass(frozen=True)
class _Plan:
    """What :meth:`DPInstance.from_config` decides before it enumerates: the space, its size, limits."""

    config: EnvConfig
    pmf: np.ndarray
    s_bar: int
    space: Space
    proven: bool
    limits: DPLimits
    size: DPSize

    @classmethod
    def of(cls, config: EnvConfig | dict[str, Any], tol: float, bounds: dict[str, Any]) -> _Plan:
        unknown = set(bounds) - set(BOUND_KEYS)
        if unknown:
            raise ConfigError(
                f"DP bounds: unknown key(s) {sorted(unknown)}; allowed: {', '.join(BOUND_KEYS)}"
            )
        config = parse_env_config(config)
        pmf = check_scope(config, tol)
        lead = int(config.lead_time.fixed or 0)  # check_scope refused a lead time that is not fixed
        lost = config.unmet_demand == "lost"
        s_bar, lo, hi = position_bounds(config, pmf, lead)
        upper = int(bounds.get("max_position", hi))
        lower = 0 if lost else int(bounds.get("min_position", lo - (len(pmf) - 1)))
        if config.capacity is not None:
            lower = min(lower, config.capacity)  # every pipeline then leaves room for some net stock
        if upper < max(lower, 0):
            raise ConfigError(f"DP bounds: max_position (={upper}) must be >= max(0, min_position={lower})")
        limits = DPLimits(int(bounds.get("max_states", MAX_STATES)), bounds.get("max_bytes"))
        space = Space(config, lead, lost, upper, lower)
        check_span(space, limits)
        size = estimate_size(space, len(pmf))
        check_size(space, size, limits)
        proven = _bound_proven(config, lost, upper, lower, hi)
        return cls(config, pmf, s_bar, space, proven, limits, size)


def _bound_proven(config: EnvConfig, lost: bool, upper: int, lower: int, hi: int) -> bool:
    """Whether the position bound ``upper`` is proven safe (see the module docstring)."""
    c = config.costs
    quantity_ok = config.action.mode == "quantity" or (config.action.max_level or 0) >= upper
    return (
        (c.fixed_order == 0 or not lost)
        and config.capacity is None
        and quantity_ok
        and config.max_order >= upper - lower  # no order the bound allows is cut by max_order
        and upper >= hi
    )
