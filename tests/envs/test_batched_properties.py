"""Conservation laws of the simulator, checked on both engines over random configs and orders.

With O_t, B_t, IP_t the on-hand stock, backlog and inventory position at the decision of period t,
and the period's flows (order q, demand D, sold S, lost L, backordered BO, received R, refused F):

* stock balance: O_{t+1} = O_t + R - F - S (arrivals either fill backlog, which counts as sold, or go
  on hand unless refused; sales from stock leave it);
* demand: D = served from stock + L + BO, with served = S - backlog filled >= 0;
* backlog: B_{t+1} = B_t + BO - (backlog filled), and B_t = 0 under lost sales;
* position: IP_{t+1} = IP_t + q - F - (D - L) and IP = O + (pipeline units) - B (the pipeline
  observation folds every outstanding unit into its slots, or on_order when it has none);
* costs: h * on_hand_end + p * (L or backlog_end) + K [q > 0] + c q.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stocklab.envs import InventoryEnv, parse_env_config
from stocklab.envs.engines.batched import BatchedEngine
from stocklab.envs.rollout import env_seed

from .test_batched_identity import configs


def check_period(cfg, before: dict, flows: dict, after: dict) -> None:
    """The laws above for one period; ``before``/``after`` hold on_hand, backlog, position, pipeline."""
    o0, b0, ip0 = before["on_hand"], before["backlog"], before["position"]
    o1, b1, ip1 = after["on_hand"], after["backlog"], after["position"]
    d, s, lost, bo = flows["demand"], flows["sold"], flows["lost"], flows["backordered"]
    r, f, q = flows["received"], flows["refused"], flows["order"]
    assert o1 == o0 + r - f - s
    served = d - lost - bo
    filled = s - served
    assert served >= 0 and filled >= 0 and min(lost, bo) >= 0
    assert b1 == b0 + bo - filled
    assert ip1 == ip0 + q - f - (d - lost)
    assert ip1 == o1 + sum(after["pipeline"]) - b1
    assert min([o1, b1, *after["pipeline"]]) >= 0
    if cfg.unmet_demand == "lost":
        assert b1 == 0 and bo == 0
    else:
        assert lost == 0
        assert b1 <= flows["backlog"] <= b0 + bo  # arrivals due at t + 1 only shrink the backlog
    c = cfg.costs
    shortage = c.shortage * (lost if cfg.unmet_demand == "lost" else flows["backlog"])
    expected = c.holding * flows["on_hand"] + shortage + (c.fixed_order if q > 0 else 0.0) + c.unit_order * q
    assert abs(flows["cost"] - expected) < 1e-9
    if cfg.capacity is not None:
        assert o1 <= max(cfg.capacity, o0)


def simpy_run(cfg, seed: int, orders: list[int]) -> None:
    env = InventoryEnv(cfg)
    env.reset(seed=seed)
    sim = env.sim

    def state() -> dict:
        return {"on_hand": sim.on_hand, "backlog": sim.backlog, "position": sim.inventory_position,
                "pipeline": sim.pipeline() if sim.n_pipeline else [sim.on_order]}  # fmt: skip

    for q in orders:
        before = state()
        _, _, _, _, info = env.step(q)
        check_period(cfg, before, info, state())


def batched_run(cfg, seed: int, orders: list[int]) -> None:
    engine = BatchedEngine(cfg, 2)
    engine.reset([env_seed(seed), env_seed(seed + 1)])

    def state(i: int) -> dict:
        pipe = engine.pipeline()[i].tolist() if engine.n_pipeline else [int(engine.on_order[i])]
        return {"on_hand": int(engine.on_hand[i]), "backlog": int(engine.backlog[i]),
                "position": int(engine.inventory_position[i]), "pipeline": pipe}  # fmt: skip

    for q in orders:
        before = [state(0), state(1)]
        flows = engine.step(np.asarray([q, max(q - 2, 0)]))
        for i in range(2):
            check_period(cfg, before[i], flows.row(i), state(i))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cfg=configs(), seed=st.integers(0, 2**31), orders=st.lists(st.integers(0, 12), min_size=40, max_size=40)
)
def test_conservation_laws_hold_on_both_engines(cfg, seed, orders):
    parsed = parse_env_config({**cfg, "action": {"mode": "quantity"}, "max_order": 12})
    simpy_run(parsed, seed, orders)
    batched_run(parsed, seed, orders)
