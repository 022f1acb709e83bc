"""Two-SKU catalogues with a binding shared capacity or budget, traced by hand period by period.

Demand is replayed and orders are fixed, so every number follows from the timing contract and the
rules of ``stocklab.envs.engines.shared`` alone. Each trace runs on both catalogue engines (the
batched NumPy engine and the SimPy engine with its shared warehouse) and both must give the numbers
worked out on paper below.
"""

from __future__ import annotations

import numpy as np
import pytest

from stocklab.envs.catalogue.config import SharedLimits
from stocklab.envs.engines.batched import BatchedEngine
from stocklab.envs.engines.simpy_catalogue import SimPyCatalogue


def sku(demand: list[int], on_hand: int, lead_time: int = 1, **kw) -> dict:
    return {
        "unmet_demand": "lost", "lead_time": lead_time, "demand": {"dist": "replay", "values": demand},
        "costs": {"holding": 1.0, "shortage": 10.0}, "initial": {"on_hand": on_hand}, "max_order": 50, **kw,
    }  # fmt: skip


def run(configs: list[dict], orders: list[list[int]], shared: dict, **arrays) -> list:
    """Flows of every period from both engines (asserted equal); returns the batched engine's."""
    limits = SharedLimits.model_validate(shared)
    batched = BatchedEngine(configs, shared=limits, **arrays)
    simpy = SimPyCatalogue(configs, shared=limits, **arrays)
    batched.reset([1, 2])
    simpy.reset([1, 2])
    out = []
    for q in orders:
        a, b = batched.step(np.asarray(q)), simpy.step(q)
        for i in range(2):
            assert a.row(i) == b.row(i)
        assert a.totals() == b.totals()
        out.append(a)
    return out


def col(flows: list, name: str) -> list:
    return [getattr(f, name).tolist() for f in flows]


def tot(flows: list, name: str) -> list:
    return [getattr(f, name) for f in flows]


# Capacity C = 10 units. SKU A: start 5, demand 3, 3, 3, 7; SKU B: start 4, demand 2 every period.
# Lead time 1; orders (A, B): (6, 4), (2, 4), (8, 0), (0, 0). Holding 1, shortage 10 per unit lost.
CAP_SKUS = [sku([3, 3, 3, 7], 5), sku([2, 2, 2, 2], 4)]
CAP_ORDERS = [[6, 4], [2, 4], [8, 0], [0, 0]]


def test_capacity_pro_rata_by_hand():
    """Free room R = C - on hand; arrivals a_i > R are cut to floor(a_i R / sum a).

    t0: demand leaves (2, 2); arrivals (6, 4) = 10 > R = 6: keep floor(6*6/10) = 3, floor(4*6/10) = 2
        (one unit of room left over); on hand (5, 4), refused (3, 2); capacity used 9.
    t1: demand leaves (2, 2); arrivals (2, 4) = 6 <= R = 6: all kept -> (4, 6); used 10.
    t2: demand leaves (1, 4); arrivals (8, 0) > R = 5: A keeps floor(8*5/8) = 5 -> (6, 4), refused 3.
    t3: A: demand 7 on 6 -> sold 6, lost 1 (cost 10); B: 4 - 2 = 2 (cost 2); used 2.
    """
    flows = run(CAP_SKUS, CAP_ORDERS, {"capacity": {"limit": 10, "rule": "pro_rata"}})
    assert col(flows, "refused") == [[3, 2], [0, 0], [3, 0], [0, 0]]
    assert col(flows, "received") == [[6, 4], [2, 4], [8, 0], [0, 0]]
    assert col(flows, "on_hand") == [[2, 2], [2, 2], [1, 4], [0, 2]]
    assert col(flows, "sold") == [[3, 2], [3, 2], [3, 2], [6, 2]]
    assert col(flows, "lost") == [[0, 0], [0, 0], [0, 0], [1, 0]]
    assert col(flows, "holding_cost") == [[2.0, 2.0], [2.0, 2.0], [1.0, 4.0], [0.0, 2.0]]
    assert col(flows, "shortage_cost") == [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [10.0, 0.0]]
    assert tot(flows, "capacity_used") == [9.0, 10.0, 10.0, 2.0]
    assert tot(flows, "overflow") == [0.0] * 4
    assert col(flows, "overflow_cost") == [[0.0, 0.0]] * 4


def test_capacity_priority_by_hand():
    """B (priority 1) is stocked before A (priority 0); the SKU that crosses gets what still fits.

    t0: demand leaves (2, 2), R = 6: B 4 fits (4 <= 6), A would reach 10 > 6: A keeps 6 - 4 = 2
        -> (4, 6), refused (4, 0); used 10.
    t1: demand leaves (1, 4), R = 5: B 4 fits, A keeps 1 of 2 -> (2, 8), refused (1, 0); used 10.
    t2: A: demand 3 on 2 -> lost 1 (cost 10), 0 left; B: 6 left; R = 4: A keeps 4 of 8 -> (4, 6),
        refused (4, 0); used 10.
    t3: A: demand 7 on 4 -> lost 3 (cost 30), 0 left; B: 4 left; used 4.
    """
    flows = run(CAP_SKUS, CAP_ORDERS, {"capacity": {"limit": 10, "rule": "priority"}}, priority=[0, 1])
    assert col(flows, "refused") == [[4, 0], [1, 0], [4, 0], [0, 0]]
    assert col(flows, "on_hand") == [[2, 2], [1, 4], [0, 6], [0, 4]]
    assert col(flows, "lost") == [[0, 0], [0, 0], [1, 0], [3, 0]]
    assert col(flows, "shortage_cost") == [[0.0, 0.0], [0.0, 0.0], [10.0, 0.0], [30.0, 0.0]]
    assert tot(flows, "capacity_used") == [10.0, 10.0, 10.0, 4.0]
    assert [f.cost.tolist() for f in flows] == [[2.0, 2.0], [1.0, 4.0], [10.0, 6.0], [30.0, 4.0]]


def test_capacity_priority_ties_follow_catalogue_order():
    """Equal priorities: A (first in the catalogue) is stocked first.

    t0: demand leaves (2, 2), R = 6: A 6 fits exactly, B would cross: keeps 0 -> (8, 2), refused (0, 4).
    t1: demand leaves (5, 0), R = 5: A 2 fits, B keeps 3 of 4 -> (7, 3), refused (0, 1).
    """
    flows = run(CAP_SKUS, CAP_ORDERS[:2], {"capacity": {"limit": 10, "rule": "priority"}})
    assert col(flows, "refused") == [[0, 4], [0, 1]]
    assert col(flows, "on_hand") == [[2, 2], [5, 0]]
    assert tot(flows, "capacity_used") == [10.0, 10.0]


def test_capacity_overflow_by_volume_by_hand():
    """Rule overflow, measure volume: everything is stocked; volume above C at the end of a period costs.

    C = 10 volume, v = (1, 2), overflow_cost 0.5 per unit of volume. Start (5, 2) = volume 9;
    demand 1 each period; orders (4, 3), then nothing; lead time 1.
    t0: end (4, 1) = volume 6 <= 10: no charge; arrivals all kept -> (8, 4) = volume 16 (capacity used).
    t1: end (7, 3) = volume 13: overflow 3, charge 1.5 shared as volume held: A 1.5*7/13, B 1.5*6/13.
    t2: end (6, 2) = volume 10: not above C, no charge.
    """
    configs = [sku([1, 1, 1], 5), sku([1, 1, 1], 2)]
    shared = {"capacity": {"limit": 10, "measure": "volume", "rule": "overflow", "overflow_cost": 0.5}}
    flows = run(configs, [[4, 3], [0, 0], [0, 0]], shared, volume=[1.0, 2.0])
    assert col(flows, "refused") == [[0, 0]] * 3
    assert col(flows, "on_hand") == [[4, 1], [7, 3], [6, 2]]
    assert tot(flows, "capacity_used") == [16.0, 13.0, 10.0]
    assert tot(flows, "overflow") == [0.0, 3.0, 0.0]
    charge = np.asarray(col(flows, "overflow_cost"))
    np.testing.assert_allclose(charge, [[0, 0], [1.5 * 7 / 13, 1.5 * 6 / 13], [0, 0]], rtol=1e-15)
    assert flows[1].cost.sum() == pytest.approx(7 + 3 * 1 + 1.5)  # holding 7 + 3, overflow 1.5


def test_capacity_by_volume_pro_rata_with_lead_time_zero():
    """Lead-time-0 orders arrive as one batch before the period's demand, rationed by volume.

    C = 12 volume, v = (1, 2). Start (2, 2) = volume 6; orders (4, 4) with lead time 0.
    t0: R = 6, arriving volume 4 + 8 = 12 > 6: keep floor(4*6/12) = 2, floor(4*6/12) = 2
        -> (4, 4) = volume 12, refused (2, 2); demand (3, 1) leaves (1, 3); used 1 + 6 = 7.
    """
    configs = [sku([3], 2, lead_time=0), sku([1], 2, lead_time=0)]
    shared = {"capacity": {"limit": 12, "measure": "volume", "rule": "pro_rata"}}
    flows = run(configs, [[4, 4]], shared, volume=[1.0, 2.0])
    assert col(flows, "refused") == [[2, 2]]
    assert col(flows, "sold") == [[3, 1]]
    assert col(flows, "on_hand") == [[1, 3]]
    assert tot(flows, "capacity_used") == [7.0]


# Budget B = 10 money per period; unit costs c = (1, 2); lead time 1, ample stock.
# Orders asked (A, B): (6, 4), (2, 1), (8, 3).
BUDGET_SKUS = [sku([0, 0, 0], 20), sku([0, 0, 0], 20)]
BUDGET_ORDERS = [[6, 4], [2, 1], [8, 3]]


def test_budget_pro_rata_by_hand():
    """sum c q > B: every order becomes floor(q B / sum c q); the leftover is not spent.

    t0: spend asked 6 + 8 = 14 > 10: floor(6*10/14) = 4, floor(4*10/14) = 2; spent 4 + 4 = 8.
    t1: 2 + 2 = 4 <= 10: as asked.
    t2: 8 + 6 = 14: floor(80/14) = 5, floor(30/14) = 2; spent 5 + 4 = 9.
    """
    flows = run(BUDGET_SKUS, BUDGET_ORDERS, {"budget": {"limit": 10, "rule": "pro_rata"}}, unit_cost=[1, 2])
    assert col(flows, "order") == [[4, 2], [2, 1], [5, 2]]
    assert col(flows, "cut") == [[2, 2], [0, 0], [3, 1]]
    assert col(flows, "received") == [[4, 2], [2, 1], [5, 2]]  # what was placed arrives
    assert tot(flows, "budget_used") == [8.0, 4.0, 9.0]
    assert tot(flows, "budget_asked") == [14.0, 4.0, 14.0]


def test_budget_priority_by_hand():
    """B (priority 2) is bought first; A gets the whole units the rest of the budget buys.

    t0: B 4 costs 8 <= 10; A 6 would reach 14: A gets floor((10 - 8)/1) = 2; spent 10.
    t1: 4 <= 10: as asked.   t2: B 3 costs 6; A gets floor(4/1) = 4 of 8; spent 10.
    """
    flows = run(
        BUDGET_SKUS, BUDGET_ORDERS, {"budget": {"limit": 10, "rule": "priority"}}, unit_cost=[1, 2],
        priority=[1, 2],
    )  # fmt: skip
    assert col(flows, "order") == [[2, 4], [2, 1], [4, 3]]
    assert tot(flows, "budget_used") == [10.0, 4.0, 10.0]


def test_budget_priority_crossing_sku_gets_whole_units_only_and_later_ones_nothing():
    """Priority A (3) > B (2) > C (1), c = (1, 3, 1), B = 10, asked (6, 3, 5).

    A 6 costs 6; B 3 would reach 15: B gets floor((10 - 6)/3) = 1 (money 9 spent, 1 left over);
    C gets nothing although one unit would fit: the rule stops at the SKU that crosses.
    """
    configs = [sku([0], 20), sku([0], 20), sku([0], 20)]
    limits = SharedLimits.model_validate({"budget": {"limit": 10, "rule": "priority"}})
    arrays = {"unit_cost": [1, 3, 1], "priority": [3, 2, 1]}
    for engine in (
        BatchedEngine(configs, shared=limits, **arrays),
        SimPyCatalogue(configs, shared=limits, **arrays),
    ):
        engine.reset([0, 1, 2])
        flows = engine.step(np.asarray([6, 3, 5]))
        assert flows.order.tolist() == [6, 1, 0]
        assert flows.budget_used == 9.0


def test_budget_and_capacity_together():
    """The budget rations the orders first; the capacity rations what then arrives.

    B = 10 with c = (1, 1) pro rata; C = 30 units pro rata; start (8, 8), no demand; lead time 1.
    t0: asked (12, 8) costs 20 > 10: placed (6, 4); arrivals 10 <= R = 14: all stocked -> (14, 12).
    t1: asked (4, 4) costs 8: placed as asked; R = 30 - 26 = 4 < 8: keep 2, 2 -> (16, 14), refused (2, 2).
    """
    configs = [sku([0, 0], 8), sku([0, 0], 8)]
    shared = {"budget": {"limit": 10}, "capacity": {"limit": 30}}
    flows = run(configs, [[12, 8], [4, 4]], shared)
    assert col(flows, "order") == [[6, 4], [4, 4]]
    assert col(flows, "refused") == [[0, 0], [2, 2]]
    assert tot(flows, "capacity_used") == [26.0, 30.0]
