"""The SimPy catalogue engine: the SKUs' stocking points in one simulation, sharing a warehouse and a budget.

The reference implementation of a catalogue's shared limits (the rules are those of
:mod:`stocklab.envs.engines.shared`, written here a second time, one SKU at a time): every SKU is a
:class:`~stocklab.envs.engines.simpy_engine.StockPoint` living in one ``simpy.Environment``. A
stocking point hands each arrival to the catalogue's warehouse (:meth:`SimPyCatalogue.deliver`); the
first delivery of an instant schedules the warehouse's batch event at that instant, behind every
event already due then, so all arrivals due at one instant are stocked together, across SKUs, by the
capacity rule. The budget rule rations the orders before they are placed.

Period t of the catalogue: the budget rations the orders; every SKU places its order (lead-time-0
orders arrive as one batch, before any customer); every SKU's demand is scheduled; the simulation
runs to t + 1; costs are charged (and the overflow charge under rule ``overflow``); the arrivals due
at t + 1 are stocked, as one batch per instant.

Whatever the batched engine can simulate, it must give the same flows for the same seeds and orders
(``tests/envs/test_catalogue_engines.py``); this engine also takes fractional lead times,
per-customer demand events and time-weighted holding, where arrivals at distinct instants are
distinct batches.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import simpy

from stocklab.envs.config import EnvConfig, parse_env_config
from stocklab.envs.core.errors import ConfigError
from stocklab.envs.core.obs import FORECAST_MEAN, FORECAST_STD
from stocklab.envs.engines.flows import FLOW_FIELDS, PeriodFlows
from stocklab.envs.engines.params import batch_action_map, batch_layout, same_layout
from stocklab.envs.engines.shared import SharedArrays
from stocklab.envs.engines.simpy_engine import PeriodResult, StockPoint

_UNITS = frozenset(
    {"order", "demand", "sold", "lost", "backordered", "backlog", "received", "refused", "on_hand"}
)


def _ration(amount: list[int], weight: list[float], room: float, rule: str, order: list[int]) -> list[int]:
    """Whole units of ``amount`` that fit in ``room`` (one SKU at a time; see engines.shared)."""
    need = 0.0
    for a, w in zip(amount, weight):
        need += w * a
    room = max(room, 0.0)
    if need <= room:
        return amount
    if rule == "pro_rata":
        return [math.floor(a * room / need) for a in amount]
    kept = [0] * len(amount)
    spent = 0.0
    for i in order:
        after = spent + weight[i] * amount[i]
        if after <= room:
            kept[i], spent = amount[i], after
            continue
        kept[i] = min(amount[i], math.floor((room - spent) / weight[i]))
        break  # every later SKU gets nothing
    return kept


class SimPyCatalogue:
    """N stocking points in one SimPy environment, coupled by a shared capacity and budget.

    Arguments as :class:`~stocklab.envs.engines.batched.BatchedEngine` (one config per SKU,
    ``shared``, ``volume``, ``unit_cost``, ``priority``); :meth:`reset` takes one episode seed per
    SKU (as ``BatchedEngine.reset`` in ``exact`` streams), :meth:`step` the orders (units, (N,)) and
    returns the period's :class:`PeriodFlows`.
    """

    def __init__(
        self,
        configs: Sequence[EnvConfig | dict[str, Any]],
        *,
        shared: Any = None,
        volume: Any = None,
        unit_cost: Any = None,
        priority: Any = None,
    ) -> None:
        self.configs = [parse_env_config(c) for c in configs]
        if not self.configs:
            raise ConfigError("a catalogue needs at least one SKU")
        for k, c in enumerate(self.configs):
            same_layout(self.configs[0], c, k)
        self.size = n = len(self.configs)
        self.obs_spec = batch_layout(self.configs)
        self.action_map = batch_action_map(self.configs)
        self.n_pipeline = max(c.pipeline_length for c in self.configs)
        self.points = [StockPoint(c, warehouse=self) for c in self.configs]
        self._index = {id(p): i for i, p in enumerate(self.points)}
        cap = getattr(shared, "capacity", None)
        bud = getattr(shared, "budget", None)
        self.capacity = None if cap is None else float(cap.limit)
        self.capacity_rule = "pro_rata" if cap is None else cap.rule
        self.overflow_rate = 0.0 if cap is None else float(cap.overflow_cost)
        self.budget = None if bud is None else float(bud.limit)
        self.budget_rule = "pro_rata" if bud is None else bud.rule
        self.volume = [1.0] * n if volume is None else [float(v) for v in volume]
        if cap is not None and cap.measure == "units":
            self.volume = [1.0] * n
        self.unit_cost = [1.0] * n if unit_cost is None else [float(c) for c in unit_cost]
        prio = [0.0] * n if priority is None else [float(p) for p in priority]
        self.order = sorted(range(n), key=lambda i: (-prio[i], i))
        self._pending: dict[int, int] = {}
        self.sim: simpy.Environment | None = None
        #: The limits as arrays, as the batched engine holds them (what policies read; the rules
        #: above are applied from the lists, one SKU at a time)
        self.shared = SharedArrays.build(shared, n, volume, unit_cost, priority)

    @classmethod
    def for_catalogue(cls, catalogue: Any) -> SimPyCatalogue:
        """The SimPy engine of a :class:`~stocklab.envs.catalogue.build.Catalogue`."""
        return cls(
            catalogue.configs, shared=catalogue.shared, volume=catalogue.volume,
            unit_cost=catalogue.unit_cost, priority=catalogue.priority,
        )  # fmt: skip

    # ----------------------------------------------------------------------- episodes
    def reset(self, seeds: Sequence[int | np.random.SeedSequence | None]) -> None:
        """Start new episodes at every SKU, SKU i from ``seeds[i]`` (as ``StockPoint.reset``)."""
        seeds = list(seeds)
        if len(seeds) != self.size:
            raise ConfigError(f"{len(seeds)} seeds for {self.size} SKUs")
        self.sim = simpy.Environment()
        self._pending = {}
        for point, seed in zip(self.points, seeds):
            point.reset(seed, self.sim)

    # ----------------------------------------------------------------- the warehouse
    def deliver(self, point: StockPoint, units: int) -> None:
        """Take an arrival; the instant's arrivals are stocked together by :meth:`_stock_batch`."""
        assert self.sim is not None
        if not self._pending:
            self.sim.timeout(0).callbacks.append(self._stock_batch)
        i = self._index[id(point)]
        self._pending[i] = self._pending.get(i, 0) + units

    def _stock_batch(self, _event: simpy.Event) -> None:
        pending, self._pending = self._pending, {}
        points = self.points
        before = [p.on_hand for p in points]
        wanted = [0] * self.size
        for i in sorted(pending):  # catalogue order
            wanted[i] = points[i].admit(pending[i])
        kept = wanted
        if self.capacity is not None and self.capacity_rule != "overflow":
            held = 0.0
            for v, x in zip(self.volume, before):
                held += v * x
            arriving = [max(w, 0) for w in wanted]
            accepted = _ration(arriving, self.volume, self.capacity - held, self.capacity_rule, self.order)
            kept = [w - a + b for w, a, b in zip(wanted, arriving, accepted)]
        for i in sorted(pending):
            points[i].stock(kept[i], wanted[i] - kept[i])

    # ------------------------------------------------------------------------ one period
    def step(self, orders: Sequence[int] | np.ndarray) -> PeriodFlows:
        """Place ``orders`` (units, one per SKU, >= 0) and simulate the period at every SKU."""
        sim = self.sim
        if sim is None:
            raise ConfigError("call reset() before step()")
        asked = [int(q) for q in orders]
        if len(asked) != self.size:
            raise ValueError(f"{len(asked)} orders for {self.size} SKUs")
        placed, spent, wanted = self._budget(asked)
        points = self.points
        for point, q in zip(points, placed):
            point.open_period(q)
        demand = [point.schedule_demand() for point in points]
        end = points[0].period + 1
        while sim.peek() < end:
            sim.step()
        sim._now = end
        charged = [point.charge() for point in points]
        while sim.peek() <= end:
            sim.step()
        results = [p.close_period(q, d, c) for p, q, d, c in zip(points, placed, demand, charged)]
        return self._flows(results, asked, placed, spent, wanted)

    def _budget(self, asked: list[int]) -> tuple[list[int], float, float]:
        cost = 0.0
        for c, q in zip(self.unit_cost, asked):
            cost += c * q
        if self.budget is None or cost <= self.budget:
            return asked, cost, cost
        placed = _ration(asked, self.unit_cost, self.budget, self.budget_rule, self.order)
        spent = 0.0
        for c, q in zip(self.unit_cost, placed):
            spent += c * q
        return placed, spent, cost

    def _flows(
        self, results: list[PeriodResult], asked: list[int], placed: list[int], spent: float, wanted: float
    ) -> PeriodFlows:
        columns: dict[str, Any] = {
            name: np.asarray([getattr(r, name) for r in results], np.int64 if name in _UNITS else np.float64)
            for name in FLOW_FIELDS
        }
        flows = PeriodFlows(**columns)
        held_end = [v * r.on_hand for v, r in zip(self.volume, results)]
        used = 0.0
        for h in held_end:
            used += h
        over = 0.0 if self.capacity is None else max(used - self.capacity, 0.0)
        charge = self.overflow_rate * over if self.capacity_rule == "overflow" else 0.0
        flows.overflow_cost = np.asarray([charge * h / used if charge else 0.0 for h in held_end])
        flows.cut = np.asarray([a - q for a, q in zip(asked, placed)], dtype=np.int64)
        now = 0.0
        for v, p in zip(self.volume, self.points):
            now += v * p.on_hand
        flows.capacity_used, flows.overflow, flows.budget_used, flows.budget_asked = now, over, spent, wanted
        return flows

    # ----------------------------------------------------------------------- the state
    @property
    def inventory_position(self) -> np.ndarray:
        """(N,) on hand + on order - backlog (units)."""
        return np.asarray([p.inventory_position for p in self.points], dtype=np.int64)

    @property
    def period(self) -> np.ndarray:
        """(N,) periods simulated since the reset."""
        return np.asarray([p.period for p in self.points], dtype=np.int64)

    @property
    def terminated(self) -> np.ndarray:
        """(N,) bool: the SKU's demand model can produce no more periods."""
        return np.asarray([p.horizon is not None and p.period >= p.horizon for p in self.points])

    def fields(self) -> dict[str, Any]:
        """Every state field an observation may hold, by ObsSpec name ((N,) or (N, size) arrays)."""
        pts = self.points
        out: dict[str, Any] = {
            "on_hand": np.asarray([p.on_hand for p in pts], dtype=np.int64),
            "backlog": np.asarray([p.backlog for p in pts], dtype=np.int64),
            "inventory_position": self.inventory_position,
            "recent_demand": np.asarray([p.recent_demand for p in pts], dtype=np.int64).reshape(
                self.size, -1
            ),
        }
        if self.n_pipeline:
            pipe = np.zeros((self.size, self.n_pipeline), dtype=np.int64)
            for i, p in enumerate(pts):
                slots = p.pipeline()
                pipe[i, : len(slots)] = slots
            out["pipeline"] = pipe
        obs = self.configs[0].observation
        if obs.information != "none":
            means, stds = [], []
            for p in pts:
                model = p.config.demand
                source = model.forecast if obs.information == "forecast" else model.expected
                m, s = source(p.period, obs.forecast_horizon)
                means.append(m)
                stds.append(s)
            out[FORECAST_MEAN], out[FORECAST_STD] = np.asarray(means), np.asarray(stds)
        return out

    def observe(self) -> np.ndarray:
        """(N, obs_spec.size) float32 observations laid out by ``obs_spec``."""
        return self.obs_spec.assemble(self.fields())
