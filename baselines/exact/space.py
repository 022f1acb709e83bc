"""The state space of the exact DP: scope, bounds, size (counted before allocating) and states.

Which configs the DP can model, the position bounds, the size of the space counted before anything
is allocated, and the enumeration of the states.

See :mod:`stocklab.baselines.exact.model` for what a state is and why the bounds are safe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stocklab.baselines.exact.limits import DPLimits, ResourceLimitError, gib
from stocklab.envs.config import EnvConfig
from stocklab.envs.core.errors import ConfigError

#: Bytes of peak memory per transition (one (state, order, demand outcome) entry of the transition
#: matrix) while the DP builds and iterates: ~9 int64/float64 arrays of that length live at once
#: when the sparse matrix is assembled (row, probability, next stock, its clipped copy, block id,
#: block floor, column, and the matrix's own data and int32 indices). Checked against the measured
#: peak resident memory of Zipkin's lost-sales instances (see ``tests/baselines/test_dp_limits.py``).
BYTES_PER_TRANSITION = 80
#: Bytes per (state, order) pair: the order, state and cost arrays, the Q-values and the
#: post-decision index, plus the pair's rows of the state table when the transitions are built.
BYTES_PER_PAIR = 72
#: Bytes per state: the state table (1 + m int64 columns) and value-iteration vectors.
BYTES_PER_STATE = 64


def check_scope(config: EnvConfig, tol: float) -> np.ndarray:
    """The demand pmf of ``config``; ConfigError naming the field when the DP cannot model it."""
    demand = config.demand
    pmf = demand.pmf(tol) if demand.stationary else None
    if pmf is None:
        kind = getattr(demand, "dist", type(demand).__name__)
        raise ConfigError(f"env.demand: the exact DP needs a stationary discrete demand distribution "
                          f"with a pmf (poisson, negative_binomial); got dist '{kind}'")  # fmt: skip
    lead = config.lead_time
    if lead.fixed is None:
        raise ConfigError(f"env.lead_time: the exact DP needs a fixed whole number of periods; got dist "
                          f"'{getattr(lead, 'dist', '?')}' (random lead times are out of its scope)")  # fmt: skip
    if config.holding_accrual != "end_of_period":
        raise ConfigError(f"env.holding_accrual: the exact DP charges holding on end-of-period stock; "
                          f"got '{config.holding_accrual}' (allowed: end_of_period)")  # fmt: skip
    m = max(lead.fixed - 1, 0)
    if len(config.initial.pipeline) > m:
        raise ConfigError(f"env.initial.pipeline: {list(config.initial.pipeline)} has more than "
                          f"{m} entries, the pipeline of lead time {lead.fixed}")  # fmt: skip
    c = config.costs
    if c.holding <= 0 or c.shortage <= 0:
        field_name = "holding" if c.holding <= 0 else "shortage"
        raise ConfigError(f"env.costs.{field_name}: the exact DP needs holding > 0 and shortage > 0 "
                          f"(got {getattr(c, field_name)}); otherwise the best stock is unbounded or zero")  # fmt: skip
    if not 0 < tol <= 0.1:
        raise ConfigError(
            f"DP tol (={tol}): the demand tail mass folded into the top value must be in (0, 0.1]"
        )
    return np.asarray(pmf, dtype=float)


def position_bounds(config: EnvConfig, pmf: np.ndarray, lead: int) -> tuple[int, int, int]:
    """(S̄, lo, hi): the backorder base-stock level and the range of inventory positions after ordering.

    [lo, hi] = {z : G(z) <= G(S̄) + K}, G(z) = h E(z - D_{L+1})^+ + p E(D_{L+1} - z)^+ with D_{L+1}
    the demand of L + 1 periods (units). S̄ = lo = hi when K = 0.
    """
    dist = pmf
    for _ in range(lead):
        dist = np.convolve(dist, pmf)
    c = config.costs
    h, p, k = c.holding, c.shortage, c.fixed_order
    s_bar = int(np.searchsorted(np.cumsum(dist), p / (p + h) - 1e-12))
    if k == 0:
        return s_bar, s_bar, s_bar
    mean = float(np.arange(len(dist)) @ dist)
    top = len(dist) - 1
    g_star = _lead_cost(np.asarray([s_bar]), dist, h, p)[0]
    ys = np.arange(math.floor(mean - (g_star + k) / p) - 1, max(top, math.ceil(mean + (g_star + k) / h)) + 2)
    ok = ys[_lead_cost(ys, dist, h, p) <= g_star + k + 1e-12]
    return s_bar, int(ok.min()), int(ok.max())


def _lead_cost(ys: np.ndarray, dist: np.ndarray, h: float, p: float) -> np.ndarray:
    d = np.arange(len(dist))
    over = np.maximum(ys[:, None] - d[None, :], 0) @ dist
    return h * over + p * (over - (ys - float(d @ dist)))


# ------------------------------------------------------------------------------------------- size
@dataclass(frozen=True)
class Space:
    """The box the DP enumerates: positions [lower, upper], pipeline entries 0..top_order (units)."""

    config: EnvConfig
    lead: int
    lost: bool
    upper: int
    lower: int

    @property
    def m(self) -> int:
        """Pipeline entries per state, max(L - 1, 0)."""
        return max(self.lead - 1, 0)

    @property
    def top_order(self) -> int:
        """Largest pipeline entry (units): an order the position bound and max_order allow."""
        return max(0, min(self.config.max_order, self.upper - self.lower))

    @property
    def x_floor(self) -> int:
        """Lowest on-hand (lost sales) or net stock (backorders) of a state (units)."""
        return 0 if self.lost else self.lower - self.m * self.top_order

    def x_range(self, sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lowest and highest x of the states whose pipeline sums to ``sums`` (units)."""
        x_hi = self.upper - sums
        if self.config.capacity is not None:
            x_hi = np.minimum(x_hi, self.config.capacity)
        return np.maximum(self.x_floor, self.lower - sums), x_hi


@dataclass(frozen=True)
class DPSize:
    """How big the DP of a config is, counted without enumerating it.

    ``states`` and ``pairs`` ((state, order) rows) are exact; ``transitions`` (entries of the
    transition matrix) is exact without ``capacity`` and an upper bound with it;
    ``bytes`` is the estimated peak memory of building and solving it (see :data:`BYTES_PER_TRANSITION`).
    """

    states: int
    pairs: int
    transitions: int
    bytes: int


def pipeline_sum_counts(space: Space, entries: int) -> np.ndarray:
    """counts[s] = number of pipelines of ``entries`` orders, each 0..top_order, summing to s units.

    For s = 0 .. upper - x_floor (the largest sum a state can have): the coefficients of
    (1 + t + ... + t^top_order)^entries, by repeated convolution, in float64 (exact below 2^53).
    """
    top_sum = max(space.upper - space.x_floor, 0)
    counts = np.zeros(top_sum + 1)
    counts[0] = 1.0
    ones = np.ones(space.top_order + 1)
    for _ in range(entries):
        counts = np.convolve(counts, ones)[: top_sum + 1]
    return counts


def _row_sums(
    space: Space, counts: np.ndarray, x_lo: np.ndarray, x_hi: np.ndarray, n_demand: int
) -> tuple[float, float, float]:
    """Sums over the cells (pipeline sum s, stock x in [x_lo[s], x_hi[s]]), each weighted by counts[s].

    Returns the number of cells, of (cell, order) pairs, and of (cell, order, outcome) triples with
    outcomes 0..min(x, d_top) (the lost-sales outcomes of a row, x >= 0). The orders depend on the
    position ip = x + s only, so each row's sums are differences of prefix sums over positions of
    n(ip) and n(ip) ip: O(rows + positions) time and memory, whatever the lead time.
    """
    rows = np.flatnonzero((counts > 0) & (x_hi >= x_lo))
    if not len(rows):
        return 0.0, 0.0, 0.0
    weight, lo, hi = counts[rows], x_lo[rows], x_hi[rows]
    ip_lo, ip_hi = int((lo + rows).min()), int((hi + rows).max())
    ips = np.arange(ip_lo, ip_hi + 1)
    n = _order_count(space, ips)
    c0 = np.concatenate([[0], np.cumsum(n)])  # c0[k] = sum of n(ip) for ip < ip_lo + k
    c1 = np.concatenate([[0], np.cumsum(n * ips)])

    def between(c: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Sum over positions a..b (0 when b < a) of the sequence whose prefix sums are c."""
        first, stop = np.clip(a - ip_lo, 0, len(ips)), np.clip(b - ip_lo + 1, 0, len(ips))
        return np.where(stop > first, c[stop] - c[first], 0).astype(float)

    cells = float(weight @ (hi - lo + 1))
    pairs = float(weight @ between(c0, lo + rows, hi + rows))
    top = n_demand - 1
    # x < d_top: x + 1 outcomes, sum of n(ip) (ip - s + 1); x >= d_top: n_demand outcomes
    small_hi = np.minimum(hi, top - 1)
    small = between(c1, lo + rows, small_hi + rows) + (1 - rows) * between(c0, lo + rows, small_hi + rows)
    large = n_demand * between(c0, np.maximum(lo, top) + rows, hi + rows)
    return cells, pairs, float(weight @ (small + large))


def estimate_size(space: Space, n_demand: int) -> DPSize:
    """States, (state, order) pairs, transitions and peak bytes of the DP over ``space``.

    ``n_demand`` is the number of demand outcomes (d_top + 1). Counts by pipeline sum s and stock x,
    each (s, x) weighted by the number of pipelines with sum s (:func:`_row_sums`). Rows share their
    outcomes through post-decision states (see ``DPInstance.post_keys``): under lost sales with
    L >= 1 every (state, order) row is one, with outcomes 0..min(x, d_top); otherwise they are
    (arriving stock w, next pipeline) with n_demand outcomes each, counted as the (w, p_1..p_{m-1})
    cells times the orders at position w + p_1 + ... + p_{m-1}.
    """
    counts = pipeline_sum_counts(space, space.m)
    sums = np.arange(len(counts))
    states, pairs, lost_rows = _row_sums(space, counts, *space.x_range(sums), n_demand)
    if space.lost and space.lead:
        transitions = lost_rows
    elif space.lead >= 2:
        rest = pipeline_sum_counts(space, space.m - 1)
        w_lo = np.maximum(space.x_floor, space.lower - sums)
        posts = _row_sums(space, rest, w_lo, space.upper - sums, n_demand)[1]
        transitions = min(pairs, posts) * n_demand
    else:
        transitions = _levels_after_order(space, n_demand)
    column = 8 * (space.m + 1)  # one int64 per state field
    peak = (
        BYTES_PER_TRANSITION * transitions
        + (BYTES_PER_PAIR + column) * pairs
        + (BYTES_PER_STATE + column) * states
    )
    return DPSize(int(states), int(pairs), int(transitions), int(peak))


def check_span(space: Space, limits: DPLimits) -> None:
    """Refuse, before counting, a space whose positions alone exceed the limits.

    The states with an empty pipeline already number upper - lower + 1 (one per position), so a
    position range wider than ``max_states`` (or than the memory allows at
    :data:`BYTES_PER_STATE` a state) is refused without allocating anything of its width.
    """
    least = space.upper - space.lower + 1
    if least <= limits.max_states and least * BYTES_PER_STATE <= limits.memory_limit():
        return
    raise ResourceLimitError(
        f"env.lead_time: the exact DP needs at least {least:,} states (one per position {space.lower}.."
        f"{space.upper}); over the limit max_states={limits.max_states:,} or max_memory="
        f"{limits.describe_memory()}. Use smaller demand (env.demand) or costs, or smaller DP bounds"
    )


def check_size(space: Space, size: DPSize, limits: DPLimits) -> None:
    """Raise ResourceLimitError, with the estimate and the limits, when ``size`` exceeds ``limits``."""
    memory = limits.memory_limit()
    if size.states <= limits.max_states and size.bytes <= memory:
        return
    over = []
    if size.states > limits.max_states:
        over.append(f"max_states={limits.max_states:,}")
    if size.bytes > memory:
        over.append(f"max_memory={limits.describe_memory()}")
    raise ResourceLimitError(
        f"env.lead_time: the exact DP needs {size.states:,} states and about {gib(size.bytes)} of memory "
        f"({size.transitions:,} transitions) for lead time {space.lead}, positions {space.lower}..{space.upper} "
        f"and orders up to {space.top_order}; over the limit {' and '.join(over)}. Use a shorter "
        "env.lead_time, smaller demand (env.demand) or costs, or raise the limit if the machine has the memory"
    )


def _levels_after_order(space: Space, n_demand: int) -> float:
    """Transitions when L <= 1 and rows share their outcomes.

    One post-decision state per stock level w = x + q after ordering (capped at ``capacity`` when
    L = 0), with outcomes 0..min(w, d_top) under lost sales (L = 0) and n_demand under backorders.
    """
    x_lo, x_hi = space.x_range(np.zeros(1, dtype=np.int64))
    xs = np.arange(int(x_lo[0]), int(x_hi[0]) + 1)
    lo, hi = _order_bounds(space, xs)
    if not len(xs):
        return 0.0
    levels = np.zeros(int((xs + hi).max()) - int(xs[0]) + 2, dtype=np.int64)
    np.add.at(levels, xs + lo - xs[0], 1)  # +1 where an interval [x + lo, x + hi] starts,
    np.add.at(levels, xs + hi + 1 - xs[0], -1)  # -1 after it ends: covered levels have a sum > 0
    w = np.flatnonzero(np.cumsum(levels)[:-1] > 0) + xs[0]
    if space.lead == 0 and space.config.capacity is not None:
        w = np.unique(np.minimum(w, space.config.capacity))
    if space.lost:
        return float((np.clip(w, 0, n_demand - 1) + 1).sum())
    return float(len(w) * n_demand)


def order_bounds(
    config: EnvConfig, max_position: int, ip: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Orders the DP considers at positions ``ip``: (lowest, highest, highest the env allows), units.

    The env allows 0..max_order in ``quantity`` mode; in ``order_up_to`` mode action a orders
    min(max_order, max(0, a - position)), a in 0..max_level, so a negative position forces an order
    of at least -position. The DP further cuts orders at ``max_position`` - position.
    """
    if config.action.mode == "order_up_to":
        lo = np.minimum(config.max_order, np.maximum(0, -ip))
        env_hi = np.minimum(config.max_order, np.maximum(0, (config.action.max_level or 0) - ip))
    else:
        lo = np.zeros_like(ip)
        env_hi = np.full_like(ip, config.max_order)
    return lo, np.maximum(lo, np.minimum(env_hi, max_position - ip)), env_hi


def _order_bounds(space: Space, ip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest order (units) the DP considers at positions ``ip``."""
    lo, hi, _ = order_bounds(space.config, space.upper, ip)
    return lo, hi


def _order_count(space: Space, ip: np.ndarray) -> np.ndarray:
    """Number of orders the DP considers at positions ``ip``."""
    lo, hi = _order_bounds(space, ip)
    return hi - lo + 1


# -------------------------------------------------------------------------------------- enumerate
def enumerate_states(
    space: Space,
) -> tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """States with position in [lower, upper], pipeline entries in [0, top_order], x <= capacity.

    Returns (states, radix, pipeline codes, block starts, block lowest x, block highest x); the
    caller has checked the size (:func:`estimate_size`) against its limits.
    """
    m, radix = space.m, space.top_order + 1
    combos = np.zeros((1, 0), dtype=np.int64)
    for _ in range(m):
        vals = np.arange(radix)
        combos = np.hstack([np.repeat(combos, radix, axis=0), np.tile(vals, len(combos))[:, None]])
        combos = combos[combos.sum(axis=1) <= space.upper - space.x_floor]
    x_lo, x_hi = space.x_range(combos.sum(axis=1))
    keep = x_hi >= x_lo
    combos, x_lo, x_hi = combos[keep], x_lo[keep], x_hi[keep]
    counts = x_hi - x_lo + 1
    total = int(counts.sum())
    code = np.zeros(len(combos), dtype=np.int64)
    for k in range(m):
        code = code * radix + combos[:, k]
    order = np.argsort(code, kind="stable")
    combos, x_lo, x_hi, counts, code = combos[order], x_lo[order], x_hi[order], counts[order], code[order]
    start = np.cumsum(counts) - counts
    block = np.repeat(np.arange(len(combos)), counts)
    x = np.arange(total) - np.repeat(start, counts) + np.repeat(x_lo, counts)
    states = np.hstack([x[:, None], combos[block]]).astype(np.int64)
    return states, radix, code, start, x_lo, x_hi
