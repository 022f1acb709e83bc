"""Hand-computed period traces: every period's state and cost, worked out on paper.

Demand is replayed (no randomness in totals) and orders are fixed, so each number below follows from
the timing contract alone: arrivals due at t, order, demand during [t, t+1), costs at t + 1.
"""

from __future__ import annotations

import numpy as np
import pytest

from stocklab.envs import InventoryEnv, StockPoint, parse_env_config


def run(config: dict, orders: list[int]) -> tuple[list[dict], list[dict]]:
    env = InventoryEnv(config)
    env.reset(seed=0)
    states, infos = [env.state_dict()], []
    for q in orders:
        _, reward, _, _, info = env.step(q)
        assert reward == -info["cost"]
        infos.append(info)
        states.append(env.state_dict())
    return states, infos


def base(**kw) -> dict:
    cfg = {
        "unmet_demand": "lost",
        "demand": {"dist": "replay", "values": [4, 1, 2]},
        "costs": {"holding": 1.0, "shortage": 9.0},
        "initial": {"on_hand": 2},
        "lead_time": 0,
    }
    cfg.update(kw)
    return cfg


def test_lost_sales_lead_time_0():
    # t0: order 3 arrives at once -> 5, demand 4 -> 1 left: cost 1
    # t1: demand 1 -> 0: cost 0;  t2: order 4 -> 4, demand 2 -> 2: cost 2
    states, infos = run(base(lead_time=0), [3, 0, 4])
    assert [s["on_hand"] for s in states] == [2, 1, 0, 2]
    assert [i["cost"] for i in infos] == [1.0, 0.0, 2.0]
    assert [i["lost"] for i in infos] == [0, 0, 0]
    assert [i["sold"] for i in infos] == [4, 1, 2]


def test_lost_sales_lead_time_1():
    # t0: order 3 due t1; demand 4 vs 2 on hand -> 2 lost: cost 9*2 = 18; t1 arrival -> 3 on hand
    # t1: demand 1 -> 2 left: cost 2;  t2: order 4 due t3; demand 2 -> 0: cost 0; t3 arrival -> 4
    states, infos = run(base(lead_time=1), [3, 0, 4])
    assert [s["on_hand"] for s in states] == [2, 3, 2, 4]
    assert [s["inventory_position"] for s in states] == [2, 3, 2, 4]
    assert [i["cost"] for i in infos] == [18.0, 2.0, 0.0]
    assert [i["lost"] for i in infos] == [2, 0, 0]
    assert [i["received"] for i in infos] == [3, 0, 4]


def test_lost_sales_lead_time_2_with_initial_pipeline():
    # initial pipeline [1]: 1 unit arrives at t1.
    # t0: on hand 2, pipeline [1], IP 3; order 3 due t2; demand 4 -> 2 lost (18); t1: +1 -> on hand 1
    #     observed pipeline: the order due t2 is due in 1 period -> slot 0 = 3; IP = 1 + 3 = 4
    # t1: demand 1 -> 0 (cost 0); t2: +3 -> on hand 3, pipeline [0]
    # t2: order 4 due t4; demand 2 -> 1 (cost 1); t3: pipeline [4], IP 5
    states, infos = run(base(lead_time=2, initial={"on_hand": 2, "pipeline": [1]}), [3, 0, 4])
    assert [s["on_hand"] for s in states] == [2, 1, 3, 1]
    assert [s["pipeline"] for s in states] == [[1], [3], [0], [4]]
    assert [s["inventory_position"] for s in states] == [3, 4, 3, 5]
    assert [i["cost"] for i in infos] == [18.0, 0.0, 1.0]


def test_backorders_lead_time_1_serve_backlog_first():
    # t0: order 3 due t1; demand 4 vs 2 -> backlog 2: cost 9*2 = 18;
    #     t1: arrival 3 serves the backlog (2) first -> on hand 1, backlog 0
    # t1: demand 1 -> 0: cost 0
    # t2: order 4 due t3; demand 2 -> backlog 2: cost 18; t3: arrival 4 -> backlog 0, on hand 2
    states, infos = run(base(lead_time=1, unmet_demand="backorder"), [3, 0, 4])
    assert [s["on_hand"] for s in states] == [2, 1, 0, 2]
    assert [s["backlog"] for s in states] == [0, 0, 0, 0]
    assert [i["backlog"] for i in infos] == [2, 0, 2]
    assert [i["backordered"] for i in infos] == [2, 0, 2]
    assert [i["cost"] for i in infos] == [18.0, 0.0, 18.0]
    # units sold: 2 at once + 2 backlog filled at t1; 1; 0 + 2 filled at t3
    assert [i["sold"] for i in infos] == [4, 1, 2]


def test_backorders_lead_time_2_backlog_carried():
    # t0: order 0; demand 4 vs 2 -> backlog 2 (cost 18)
    # t1: order 5 due t3; demand 1 -> backlog 3 (cost 27); IP = 0 + 5 - 3 = 2
    # t2: order 0; demand 2 -> backlog 5 (cost 45); t3: arrival 5 clears backlog -> 0 on hand
    states, infos = run(base(lead_time=2, unmet_demand="backorder"), [0, 5, 0])
    assert [i["cost"] for i in infos] == [18.0, 27.0, 45.0]
    assert [s["backlog"] for s in states] == [0, 2, 3, 0]
    assert [s["inventory_position"] for s in states] == [2, -2, 2, 0]
    assert states[2]["pipeline"] == [5]


def test_fixed_and_unit_order_costs():
    # K = 10, c = 2: t0 orders 3 -> 10 + 6 on top of the L = 0 trace's holding 1; t1 orders 0: no K
    cfg = base(lead_time=0, costs={"holding": 1.0, "shortage": 9.0, "fixed_order": 10.0, "unit_order": 2.0})
    _, infos = run(cfg, [3, 0, 4])
    assert [i["fixed_cost"] for i in infos] == [10.0, 0.0, 10.0]
    assert [i["unit_cost"] for i in infos] == [6.0, 0.0, 8.0]
    assert [i["cost"] for i in infos] == [17.0, 0.0, 20.0]


def test_capacity_refuses_excess_units():
    # capacity 5, on hand 4, L = 1: t0 order 4 due t1; demand 1 -> 3 on hand;
    # t1: 3 + 4 = 7 > 5 -> 2 refused, on hand 5
    cfg = base(lead_time=1, capacity=5, initial={"on_hand": 4}, demand={"dist": "replay", "values": [1, 0]})
    states, infos = run(cfg, [4, 0])
    assert states[1]["on_hand"] == 5
    assert infos[0]["received"] == 4
    assert infos[0]["refused"] == 2
    assert infos[0]["cost"] == 3.0


class FixedInstants:
    """Stands in for the customer-instant generator: hands out the given offsets in order."""

    def __init__(self, offsets: list[float]) -> None:
        self.offsets = np.asarray(offsets)

    def random(self, n: int) -> np.ndarray:
        return np.resize(self.offsets, n)


@pytest.mark.parametrize("accrual", ["end_of_period", "time_weighted"])
def test_fractional_lead_time_serves_customers_after_arrival(accrual):
    # Lead time 0.5: the order of t0 arrives at t = 0.5. Three customers at 0.2, 0.7, 0.9:
    # the first finds no stock (lost), the others are served from the arrival.
    # End-of-period: 2 on hand -> holding 2, shortage 9 -> cost 11.
    # Time-weighted: 0 on [0, .5), 4 on [.5, .7), 3 on [.7, .9), 2 on [.9, 1) -> 0.8 + 0.6 + 0.2 = 1.6.
    cfg = parse_env_config(
        {
            "lead_time": {"dist": "discrete", "values": [0.5], "probs": [1.0]},
            "demand": {"dist": "replay", "values": [3]},
            "holding_accrual": accrual,
        }
    )
    assert cfg.per_customer
    sp = StockPoint(cfg)
    sp.reset(0)
    sp._rng_instants = FixedInstants([0.7, 0.2, 0.9])  # sorted by the simulator
    r = sp.step(4)
    assert (r.demand, r.lost, r.sold, r.on_hand) == (3, 1, 2, 2)
    expected_holding = 2.0 if accrual == "end_of_period" else 1.6
    assert r.holding_cost == pytest.approx(expected_holding)
    assert r.cost == pytest.approx(expected_holding + 9.0)


def test_order_up_to_action_mode():
    # order_up_to: action a orders min(max_order, max(0, a - IP)).
    cfg = base(lead_time=1, action={"mode": "order_up_to", "max_level": 20}, max_order=4)
    env = InventoryEnv(cfg)
    env.reset(seed=0)
    _, _, _, _, info = env.step(10)  # IP 2 -> wants 8, capped at max_order 4
    assert info["order"] == 4
    _, _, _, _, info = env.step(1)  # IP = 4 - 0 ... below IP -> order 0
    assert info["order"] == 0


def test_replay_stop_terminates():
    env = InventoryEnv(base(demand={"dist": "replay", "values": [1, 2], "at_end": "stop"}))
    env.reset(seed=0)
    assert env.step(0)[2] is False
    assert env.step(0)[2] is True
