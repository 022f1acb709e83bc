"""The SimPy model of one stocking point under periodic review; usable without gymnasium.

Timing of period t (the contract the tests and the exact DP rely on):

1. Orders due at t arrive; under backorders they serve the backlog first, the rest goes on hand
   (units that would lift on-hand stock above ``capacity`` are refused and counted).
2. The policy observes the state and orders q_t, paying K if q_t > 0 plus c per unit. With lead time
   L the order arrives at t + L; L = 0 means before this period's demand. A fractional arrival time
   makes the stock usable from that instant.
3. Customers arrive during [t, t + 1), one unit each, and are served from on-hand stock; what is
   missing is lost or backordered.
4. At t + 1: holding cost h per unit on hand at the end of the period (or, with
   ``holding_accrual: time_weighted``, h times the time-integral of on-hand stock over the period),
   shortage cost p per unit lost, or per unit backordered at the end of the period.

The state observed after step t already includes the arrivals due at t + 1 (step 1 of the next
period); ``simpy.Environment.run(until=t + 1)`` stops before events at t + 1, so they are stepped
explicitly.

Two event granularities, identical whenever both apply: one demand event per period (``per_period``,
valid for whole-period lead times with end-of-period holding) and one event per customer at a uniform
random instant of the period (``per_customer``). The period total is drawn first in both, from the same
generator, so both see the same demand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import simpy

from stocklab.envs.config import EnvConfig
from stocklab.envs.core.seeding import spawn_generators

#: Periods (and lead times) drawn per call to the generators, to keep numpy's call overhead out of step().
BLOCK = 512


@dataclass(slots=True)
class PeriodResult:
    """What happened in one period (units of stock, costs in money for the period).

    ``on_hand`` and ``backlog`` are the end-of-period values the costs are charged on (before the
    arrivals due at t + 1); ``received`` and ``refused`` count every arrival processed by the step,
    including those due at t + 1 that the next observation already shows. ``sold`` counts units
    handed to customers: served at once, plus backlog filled by arrivals.
    """

    order: int
    demand: int
    sold: int
    lost: int
    backordered: int
    backlog: int
    received: int
    refused: int
    on_hand: int
    holding_cost: float
    shortage_cost: float
    fixed_cost: float
    unit_cost: float

    @property
    def cost(self) -> float:
        """Total cost of the period."""
        return self.holding_cost + self.shortage_cost + self.fixed_cost + self.unit_cost


class StockPoint:
    """One stocking point simulated in SimPy. Call :meth:`reset`, then :meth:`step` once per period."""

    def __init__(self, config: EnvConfig) -> None:
        self.config = config
        self._h = config.costs.holding
        self._p = config.costs.shortage
        self._k = config.costs.fixed_order
        self._c = config.costs.unit_order
        self._lost_sales = config.unmet_demand == "lost"
        self._capacity = config.capacity
        self._per_customer = config.per_customer
        self._time_weighted = config.holding_accrual == "time_weighted"
        self._lead = config.lead_time
        self._fixed_lead = config.lead_time.fixed
        self.n_pipeline = config.pipeline_length
        self._history = config.observation.recent_demand

    # ----------------------------------------------------------------- episode
    def reset(self, seed: int | np.random.SeedSequence | None) -> None:
        """Start a new episode in the configured initial state; all randomness flows from ``seed``."""
        gens = spawn_generators(seed)
        self._rng_demand = gens["demand"]
        self._rng_instants = gens["arrival_instants"]
        self._rng_lead = gens["lead_time"]
        self.sim = simpy.Environment()
        self.period = 0
        init = self.config.initial
        self.on_hand = init.on_hand
        self.backlog = init.backlog
        self.outstanding: list[list[float]] = []  # [due time, units], in placement order
        self.on_order = 0  # units ordered and not yet arrived
        self._last_due = 0.0
        self._demand_buf = np.empty(0, dtype=np.int64)
        self._demand_pos = 0
        self._demand_start = 0
        self._lead_buf = np.empty(0)
        self._lead_pos = 0
        self._instant_buf = np.empty(0)
        self._instant_pos = 0
        self.recent_demand = [0] * self._history
        # per-period accumulators, reset by step()
        self._sold = self._lost = self._backordered = self._received = self._refused = 0
        for k, units in enumerate(init.pipeline):
            if units > 0:
                self._schedule_arrival(float(k + 1), units)

    # ------------------------------------------------------------- one period
    def step(self, order: int) -> PeriodResult:
        """Place ``order`` units at the start of the current period and simulate the period."""
        t = self.period
        self._sold = self._lost = self._backordered = self._received = self._refused = 0
        self._area = 0.0
        self._last_change = float(t)
        fixed = self._k if order > 0 else 0.0
        unit = self._c * order
        if order > 0:
            self._place(t, order)
        demand = self._next_demand()
        sim = self.sim
        if self._per_customer:
            self._schedule_customers(t, demand)
        else:
            sim.timeout(0).callbacks.append(lambda _ev: self._serve(demand))
        end = t + 1
        # Equivalent to sim.run(until=end) without its stop event and exception, which cost a third
        # of a step: process every event before t + 1, then advance the clock to t + 1.
        while sim.peek() < end:
            sim.step()
        sim._now = end
        if self._time_weighted:
            self._area += self.on_hand * (t + 1 - self._last_change)
            holding = self._h * self._area
        else:
            holding = self._h * self.on_hand
        shortage = self._p * (self._lost if self._lost_sales else self.backlog)
        on_hand_end, backlog_end = self.on_hand, self.backlog
        # step 1 of period t + 1: arrivals due exactly at t + 1, so the next observation includes them
        while sim.peek() <= end:
            sim.step()
        self.period = end
        if self._history:
            self.recent_demand = [*self.recent_demand[1:], demand]
        return PeriodResult(
            order, demand, self._sold, self._lost, self._backordered, backlog_end, self._received,
            self._refused, on_hand_end, holding, shortage, fixed, unit,
        )  # fmt: skip

    # ------------------------------------------------------------------ state
    def pipeline(self) -> list[int]:
        """Outstanding units by periods until due: slot k holds units due within (k, k + 1] periods."""
        slots = [0] * self.n_pipeline
        if not slots:
            return slots
        now = self.period
        last = self.n_pipeline - 1
        for due, units in self.outstanding:
            k = math.ceil(due - now) - 1
            slots[k if k < last else last] += int(units)
        return slots

    @property
    def inventory_position(self) -> int:
        """On-hand + on-order - backlog (units): what every classic policy acts on."""
        return self.on_hand + self.on_order - self.backlog

    @property
    def horizon(self) -> int | None:
        """Periods the demand model can produce (replay that stops), or None."""
        return self.config.demand.horizon

    # -------------------------------------------------------------- internals
    def _place(self, t: int, units: int) -> None:
        if self._fixed_lead is not None:
            lead = float(self._fixed_lead)
        else:
            if self._lead_pos >= len(self._lead_buf):
                self._lead_buf = self._lead.sample(self._rng_lead, BLOCK)
                self._lead_pos = 0
            lead = float(self._lead_buf[self._lead_pos])
            self._lead_pos += 1
        due = t + lead
        if self._lead.in_sequence and due < self._last_due:
            due = self._last_due
        self._last_due = due
        if due <= t:
            self._receive(units)
        else:
            self._schedule_arrival(due, units)

    def _schedule_arrival(self, due: float, units: int) -> None:
        entry: list = [due, units]
        self.outstanding.append(entry)
        self.on_order += units
        event = self.sim.timeout(due - self.sim.now)
        event.callbacks.append(lambda _ev: self._arrive(entry))

    def _arrive(self, entry: list[float]) -> None:
        self.outstanding.remove(entry)
        units = int(entry[1])  # entries are [due time, units]: the units are whole
        self.on_order -= units
        self._receive(units)

    def _receive(self, units: int) -> None:
        if self._time_weighted:
            self._accrue()
        self._received += units
        if self.backlog:
            filled = min(self.backlog, units)
            self.backlog -= filled
            self._sold += filled
            units -= filled
        if self._capacity is not None and self.on_hand + units > self._capacity:
            refused = self.on_hand + units - self._capacity
            self._refused += refused
            units -= refused
        self.on_hand += units

    def _serve(self, units: int) -> None:
        if self._time_weighted:
            self._accrue()
        sold = units if units <= self.on_hand else self.on_hand
        self.on_hand -= sold
        self._sold += sold
        short = units - sold
        if short:
            if self._lost_sales:
                self._lost += short
            else:
                self.backlog += short
                self._backordered += short

    def _accrue(self) -> None:
        now = self.sim.now
        self._area += self.on_hand * (now - self._last_change)
        self._last_change = now

    def _schedule_customers(self, t: int, demand: int) -> None:
        if demand == 0:
            return
        if self._instant_pos + demand > len(self._instant_buf):
            self._instant_buf = self._rng_instants.random(max(BLOCK * 8, demand))
            self._instant_pos = 0
        offsets = np.sort(self._instant_buf[self._instant_pos : self._instant_pos + demand])
        self._instant_pos += demand
        # One SimPy event per customer, each serving one unit at its instant. A callback on a timeout
        # costs less than resuming a generator process, and the event order is the same.
        sim = self.sim
        serve = self._serve_one
        for offset in offsets.tolist():
            sim.timeout(offset).callbacks.append(serve)

    def _serve_one(self, _event: simpy.Event) -> None:
        self._serve(1)

    def _next_demand(self) -> int:
        if self._demand_pos >= len(self._demand_buf):
            self._demand_start += len(self._demand_buf)
            self._demand_buf = self.config.demand.sample(self._rng_demand, self._demand_start, BLOCK)
            self._demand_pos = 0
        d = int(self._demand_buf[self._demand_pos])
        self._demand_pos += 1
        return d
