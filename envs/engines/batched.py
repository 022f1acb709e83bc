"""The batched NumPy engine: B stocking points stepped in lockstep, with the SimPy engine's semantics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from stocklab.envs.core.errors import ConfigError
from stocklab.envs.core.obs import FORECAST_MEAN, FORECAST_STD
from stocklab.envs.engines.flows import PeriodFlows
from stocklab.envs.engines.information import DemandInformation
from stocklab.envs.engines.params import BatchParams, distinct
from stocklab.envs.engines.placement import StatePlacement
from stocklab.envs.engines.shared import SharedArrays, total
from stocklab.envs.engines.streams import DemandStreams, LeadStreams, Seed, episode_generators

Streams = Literal["exact", "shared"]


def _plus(a: Any, b: Any) -> Any:
    """Return a + b, where None stands for nothing to add."""
    if b is None:
        return a
    return b if a is None else a + b


def _zeros(n: int, dtype: Any) -> np.ndarray:
    out = np.zeros(n, dtype=dtype)
    out.flags.writeable = False
    return out


class BatchedEngine(StatePlacement):
    """B independent stocking points under periodic review, stepped together as NumPy arrays.

    ## What it simulates
    Each stocking point follows the timing contract of the SimPy engine
    (:mod:`stocklab.envs.engines.simpy_engine`), period t:

    1. Orders due at t arrive (they were processed at the end of step t - 1, so the observation at t
       shows them); under backorders they serve the backlog first, the rest goes on hand; units that
       would lift on-hand stock above ``capacity`` are refused (per arrival, counted in ``refused``).
    2. The policy orders q_t >= 0 units (:meth:`step`), paying K if q_t > 0 plus c per unit. With
       lead time L the order arrives at t + L; L = 0 means before this period's demand. A random lead
       time is drawn per order placed; with ``in_sequence`` an order never arrives before an earlier one.
    3. The period's demand is served from on-hand stock; what is missing is lost or backordered.
    4. At t + 1: holding h per unit on hand at the end of the period, shortage p per unit lost (or
       per unit backordered at the end of the period); then the arrivals due at t + 1 are processed.

    ## Arrays and shapes
    B = :attr:`size` stocking points: ``num`` replications of one :class:`EnvConfig`, or one config
    per stocking point (a catalogue: own lead time, costs, demand model, capacity, max_order, initial
    state; shared unmet-demand rule, action mode and observation fields; the pipeline has the most
    slots any of them needs). All stock quantities are int64 units.

    =====================  ===========  =========================================================
    attribute / method     shape        meaning
    =====================  ===========  =========================================================
    ``on_hand``            (B,)         units on hand after the arrivals due at the current period
    ``backlog``            (B,)         units backordered (0 under lost sales)
    ``on_order``           (B,)         units ordered and not yet arrived
    ``inventory_position`` (B,)         on_hand + on_order - backlog
    ``pipeline()``         (B, n)       slot k: units due in k + 1 periods; the last slot also holds
                                        later ones (n: the largest ``pipeline_length``)
    ``recent_demand``      (B, k)       last k period demands, oldest first
    ``period``             (B,)         periods simulated since each stocking point's reset
    ``terminated``         (B,)         a replayed demand with ``at_end: stop`` has run out
    ``observe()``          (B, size)    float32 observations laid out by ``obs_spec``
    ``step(orders)``       (B,) -> PeriodFlows of (B,) arrays (see :class:`PeriodFlows`)
    =====================  ===========  =========================================================

    ``action_map.orders(actions, inventory_position)`` turns actions of either action mode into the
    orders :meth:`step` takes (units); :meth:`step` itself does not clip orders.

    ## Randomness (``streams``)
    ``exact`` (default): each stocking point draws its demand and lead times from generators made
    from its own episode seed, in the same blocks and order as the SimPy engine, so
    ``reset(seeds=[s, ...])`` reproduces ``StockPoint.reset(s)`` flow for flow (the batched engine's
    identity test). ``shared``: one seed for the whole batch and one generator per source; stationary
    demand is drawn for all stocking points in one call per block of periods. Faster to reset and draw
    for large B (training, benchmarks); same distributions, other numbers. See
    :mod:`stocklab.envs.engines.streams`.

    ## What it refuses, and why
    Only whole-period dynamics: configs whose outcome depends on what happens inside a period raise
    ConfigError naming the field: fractional lead times (``env.lead_time`` gamma, lognormal, discrete
    with fractional values), ``env.holding_accrual: time_weighted`` and ``env.simulation:
    per_customer``. The SimPy engine stays the reference for those (``engine: auto`` picks it).

    ## A catalogue: shared limits
    ``shared`` (a :class:`~stocklab.envs.catalogue.config.SharedLimits`: a warehouse capacity and a
    purchasing budget per period), with the per-SKU ``volume`` (units of capacity per unit of stock),
    ``unit_cost`` (money per unit ordered, c) and ``priority`` arrays, couples the stocking points:
    the budget rations the orders of step 2 and the capacity rations every batch of arrivals of
    step 1 (those due at t + 1, and the lead-time-0 orders of t), after each SKU's own capacity, by
    the rules of :mod:`stocklab.envs.engines.shared`. The flows then carry ``overflow_cost`` and
    ``cut`` per SKU and the period's totals (``capacity_used``, ``overflow``, ``budget_used``,
    ``budget_asked``). :meth:`for_catalogue` builds the engine of a :class:`~stocklab.envs.catalogue.build.Catalogue`.

    ## Cost of a step
    A fixed number of NumPy operations on (B,) arrays, no Python loop over the stocking points; the
    loop over B runs once per 512 periods (to draw each stocking point's block in ``exact`` mode) and
    at resets.
    """

    def __init__(
        self,
        config: Any = None,
        num: int | None = None,
        *,
        streams: Streams = "exact",
        shared: Any = None,
        volume: Any = None,
        unit_cost: Any = None,
        priority: Any = None,
    ) -> None:
        if streams not in ("exact", "shared"):
            raise ConfigError(f"streams (={streams!r}) must be 'exact' or 'shared'")
        self.params = p = BatchParams.build(config, num)
        self.size = B = p.size
        self.streams = streams
        self.config = p.configs[0]
        self.obs_spec, self.action_map = p.obs_spec, p.action_map
        self.n_pipeline = max(c.pipeline_length for c in distinct(p.configs).values())
        one_stream = streams == "shared"
        self._demand = DemandStreams([c.demand for c in p.configs], one_stream)
        self._leads = (
            None if p.fixed_lead is not None else LeadStreams([c.lead_time for c in p.configs], one_stream)
        )
        self._zi, self._zf = _zeros(B, np.int64), _zeros(B, np.float64)
        self._all = np.arange(B)
        self._lost = p.lost_sales
        self._fixed_cost = bool(np.any(np.asarray(p.fixed_order) != 0))
        self._unit_cost = bool(np.any(np.asarray(p.unit_order) != 0))
        self._cap = p.capacity
        self._over = p.capacity is not None and bool((p.initial_on_hand > p.capacity).any())
        self._seq = (
            p.in_sequence is True or isinstance(p.in_sequence, np.ndarray) and bool(p.in_sequence.any())
        )
        depth = max(1, p.fixed_lead or 0, len(p.initial_pipeline), self._leads.longest if self._leads else 0)
        self._pipe = np.zeros((depth, B), dtype=np.int64)  # ring: row (head + k) % depth is due in k + 1
        self._head = 0
        self.on_hand = p.initial_on_hand.copy()
        self.backlog = p.initial_backlog.copy()
        self.on_order = np.zeros(B, dtype=np.int64)
        self._clock = 0  # periods stepped by the engine
        self._born = np.zeros(B, dtype=np.int64)  # the clock at each stocking point's reset
        self._history = p.history > 0
        self.recent_demand = np.zeros((B, p.history), dtype=np.int64)
        self._last_due = np.zeros(B, dtype=np.int64)  # in-sequence: latest due of an order, relative to now
        self._info = DemandInformation(p) if p.information != "none" else None
        self._seeded = False
        coupled = shared is not None or any(x is not None for x in (volume, unit_cost, priority))
        self.shared = SharedArrays.build(shared, B, volume, unit_cost, priority) if coupled else None
        # arrivals are rationed only under a refusal rule (overflow keeps everything)
        sh = self.shared
        self._room = sh is not None and sh.capacity is not None and sh.capacity_rule != "overflow"

    @classmethod
    def for_catalogue(cls, catalogue: Any, *, streams: Streams = "exact") -> BatchedEngine:
        """The engine of a catalogue: one stocking point per SKU, coupled by its shared limits."""
        return cls(
            catalogue.configs, streams=streams, shared=catalogue.shared, volume=catalogue.volume,
            unit_cost=catalogue.unit_cost, priority=catalogue.priority,
        )  # fmt: skip

    # ----------------------------------------------------------------------- episodes
    def reset(self, seeds: Sequence[Seed] | Seed = None, index: Any = None) -> None:
        """Start new episodes in the configured initial state at stocking points ``index`` (default all).

        ``exact`` streams: ``seeds`` holds one episode seed per reset stocking point (an int or a
        SeedSequence, as ``StockPoint.reset`` takes it; None: fresh entropy). ``shared`` streams: a
        reset of all stocking points takes one seed for the batch; a partial reset continues the shared
        generators (``seeds`` must be None).
        """
        idx = self._all if index is None else np.asarray(index, dtype=np.int64).reshape(-1)
        if np.asarray(index).dtype == bool:
            idx = np.flatnonzero(index)
        full = len(idx) == self.size and index is None
        if full:
            self._demand.restart()  # every column refills from its new stream
        rngs, shared_rng = self._generators(seeds, idx, full)
        self._demand.reset(idx, rngs and [r[0] for r in rngs], shared_rng and shared_rng[0])
        if self._leads is not None:
            self._leads.reset(idx, rngs and [r[1] for r in rngs], shared_rng and shared_rng[1])
            self._grow()
        p = self.params
        self.on_hand[idx] = p.initial_on_hand[idx]
        self.backlog[idx] = p.initial_backlog[idx]
        self._pipe[:, idx] = 0
        for k, row in enumerate(p.initial_pipeline):
            self._pipe[(self._head + k) % len(self._pipe), idx] = row[idx]
        self.on_order[idx] = p.initial_pipeline[:, idx].sum(axis=0)
        self._born[idx] = self._clock
        self.recent_demand[idx] = 0
        self._last_due[idx] = 0
        self._seeded = True

    def _generators(self, seeds: Any, idx: np.ndarray, full: bool) -> tuple[Any, Any]:
        if self.streams == "shared":
            if full:
                return None, episode_generators(seeds)
            if seeds is not None:
                raise ConfigError(
                    "shared streams: a partial reset continues the batch's generators; seeds must be None"
                )
            if not self._seeded:
                raise ConfigError("shared streams: reset all stocking points with a seed first")
            return None, None
        if seeds is None or isinstance(seeds, int | np.integer | np.random.SeedSequence):
            if len(idx) != 1 and seeds is not None:
                raise ConfigError(
                    f"exact streams: give one seed per stocking point ({len(idx)}), not one for all"
                )
            seeds = [seeds] * len(idx)
        seeds = list(seeds)
        if len(seeds) != len(idx):
            raise ConfigError(f"exact streams: {len(seeds)} seeds for {len(idx)} stocking points")
        return [episode_generators(s) for s in seeds], None

    # ------------------------------------------------------------------------ one period
    def step(self, orders: np.ndarray) -> PeriodFlows:
        """Place ``orders`` (units, shape (B,), >= 0) at every stocking point and simulate the period."""
        if not self._seeded and self._replay is None:
            raise ConfigError("call reset() before step()")
        q = np.array(orders, dtype=np.int64)
        if q.shape != (self.size,):
            raise ValueError(f"orders has shape {q.shape}; expected ({self.size},)")
        p = self.params
        sh = self.shared
        if sh is not None:
            asked = q
            q, spent, wanted = sh.budget_orders(q)
        now = self._place(q)
        on_hand, backlog = self.on_hand, self.backlog
        sold = refused = None
        if now is not None:  # lead time 0: the order serves this period's demand
            on_hand, backlog, sold, refused = self._receive(on_hand, backlog, now)
        demand = self._demand.next() if self._replay is None else self._replay()
        served = np.minimum(demand, on_hand)
        on_hand = on_hand - served
        short = demand - served
        if self._lost:
            lost, backordered, end_backlog = short, self._zi, self._zi
            shortage = p.shortage * lost
        else:
            backlog = backlog + short
            lost, backordered, end_backlog = self._zi, short, backlog
            shortage = p.shortage * backlog
        holding = p.holding * on_hand
        # step 1 of period t + 1: the arrivals due then, so that the next observation includes them
        head = self._head
        arriving = self._pipe[head].copy()
        self._pipe[head] = 0
        self._head = head + 1 if head + 1 < len(self._pipe) else 0
        self.on_order -= arriving
        self.on_hand, self.backlog, fill, late_refused = self._receive(on_hand, backlog, arriving)
        self._clock += 1
        if self._seq:
            self._last_due -= 1
        if self._history:
            self.recent_demand[:, :-1] = self.recent_demand[:, 1:]
            self.recent_demand[:, -1] = demand
        flows = PeriodFlows(
            q, demand, _plus(_plus(served, sold), fill), lost, backordered, end_backlog,
            _plus(arriving, now),
            self._zi if self._cap is None and not self._room else _plus(late_refused, refused),
            on_hand, holding, shortage,
            p.fixed_order * (q > 0) if self._fixed_cost else self._zf,
            p.unit_order * q if self._unit_cost else self._zf,
        )  # fmt: skip
        if sh is not None:
            charge, over = sh.overflow(on_hand)
            flows.overflow_cost = self._zf if charge is None else charge
            flows.cut = asked - q
            flows.capacity_used = total(sh.volume * self.on_hand)
            flows.overflow, flows.budget_used, flows.budget_asked = over, spent, wanted
        return flows

    def _place(self, q: np.ndarray) -> np.ndarray | None:
        """Schedule the orders; return the units that arrive at once (lead time 0), or None."""
        lead = self.params.fixed_lead
        depth = len(self._pipe)
        if lead is not None:
            if lead == 0:
                return q
            self._pipe[(self._head + lead - 1) % depth] += q
            self.on_order += q
            return None
        assert self._leads is not None
        placed = q > 0
        due = self._leads.next(placed)
        if self._leads.longest > depth:
            self._grow()
            depth = len(self._pipe)
        if self._seq:
            due = np.where(placed & self.params.in_sequence, np.maximum(due, self._last_due), due)
            self._last_due = np.where(placed, due, self._last_due)
        later = np.flatnonzero(placed & (due > 0))
        self._pipe[(self._head + due[later] - 1) % depth, later] += q[later]
        self.on_order[later] += q[later]
        now = placed & (due <= 0)
        return q * now if now.any() else None

    def _receive(
        self, on_hand: np.ndarray, backlog: np.ndarray, units: np.ndarray
    ) -> tuple[Any, Any, Any, Any]:
        """Arrivals of ``units``: backlog first, then on hand up to capacity.

        Returns the new on-hand and backlog, the backlog filled (sold) and the units refused (None
        where nothing can be filled or refused).
        """
        fill = None
        if not self._lost:
            fill = np.minimum(backlog, units)
            backlog = backlog - fill
            units = units - fill
        if self._cap is None and not self._room:
            return on_hand + units, backlog, fill, None
        whole = on_hand + units
        kept = whole
        if self._cap is not None:
            kept = np.minimum(whole, self._cap)
            if self._over:  # stock above capacity (a start state) is cut only when something arrives
                arrived = units > 0 if fill is None else units + fill > 0
                kept = np.where(arrived, kept, on_hand)
        if self._room:
            assert self.shared is not None
            kept = self.shared.admit(on_hand, kept)
        return kept, backlog, fill, whole - kept

    def _grow(self) -> None:
        """Widen the pipeline ring to hold the longest lead time drawn so far."""
        need = self._leads.longest if self._leads is not None else 0
        depth = len(self._pipe)
        if need <= depth:
            return
        order = (self._head + np.arange(depth)) % depth
        wider = np.zeros((need, self.size), dtype=np.int64)
        wider[:depth] = self._pipe[order]
        self._pipe, self._head = wider, 0

    # ----------------------------------------------------------------------- the state
    @property
    def inventory_position(self) -> np.ndarray:
        """On hand + on order - backlog (units, (B,)): what every classic policy acts on."""
        if self._lost:
            return self.on_hand + self.on_order
        return self.on_hand + self.on_order - self.backlog

    @property
    def period(self) -> np.ndarray:
        """(B,) periods simulated since each stocking point's reset."""
        return self._clock - self._born

    @property
    def terminated(self) -> np.ndarray:
        """(B,) bool: the stocking point's demand model can produce no more periods."""
        horizon = self.params.horizon
        if horizon is None:
            return np.zeros(self.size, dtype=bool)
        return self.period >= horizon

    def pipeline(self) -> np.ndarray:
        """(B, n) outstanding units by periods until due; the last slot also holds later arrivals."""
        n, depth, head = self.n_pipeline, len(self._pipe), self._head
        out = np.zeros((n, self.size), dtype=np.int64)  # filled slot by slot, returned transposed
        if n == 0:
            return out.T
        k = min(n - 1, depth)
        for j in range(k):  # slot j: the ring row due in j + 1 periods
            out[j] = self._pipe[head + j - depth]
        if depth == n or (depth > n and self._leads is None):
            # with a fixed lead time L the ring has L rows and the one due in L periods is empty
            # at a decision (this period's order is not placed yet): the last slot is one row
            out[n - 1] = self._pipe[head + n - 1 - depth]
        elif depth > n:
            rows = (head + np.arange(n - 1, depth)) % depth
            out[n - 1] = self._pipe[rows].sum(axis=0)
        return out.T

    def fields(self) -> dict[str, Any]:
        """Every state field an observation may hold, by ObsSpec name ((B,) or (B, size) arrays)."""
        out: dict[str, Any] = {
            "on_hand": self.on_hand,
            "backlog": self.backlog,
            "inventory_position": self.inventory_position,
            "recent_demand": self.recent_demand,
        }
        if self.n_pipeline:
            out["pipeline"] = self.pipeline()
        if self._info is not None:
            out[FORECAST_MEAN], out[FORECAST_STD] = self._info.at(self.period)
        return out

    def observe(self) -> np.ndarray:
        """(B, obs_spec.size) float32 observations, the same vectors InventoryEnv would show."""
        return self.obs_spec.assemble(self.fields())
