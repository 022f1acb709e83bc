"""Tabular Q-learning / SARSA: optimality on a tiny instance (exact DP), TD targets by hand,
discretiser and masks by hand, determinism, save/load, checkpoint/resume, callbacks."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from stocklab.agents.tabular.agent import QLearning, Sarsa, TabularAgent, allowed_actions
from stocklab.agents.tabular.callbacks import CheckpointCallback, EvalCallback, TabularCallback
from stocklab.agents.tabular.discretize import DiscretizerConfig, build_discretizer
from stocklab.agents.tabular.schedules import EpsilonSchedule
from stocklab.baselines.exact.solver import DPInstance, evaluate_policy, solve_optimal
from stocklab.envs import ConfigError, PolicyError, parse_env_config
from stocklab.envs.core.obs import ObsSpec
from stocklab.envs.core.policy import ActionMap
from stocklab.envs.rollout import episode_infos

#: Lost sales, L = 0, Poisson(1), h = 1, p = 4, at most 3 units per order: 3 recurrent states whose
#: optimal orders are far apart in cost (any single wrong action costs over 7% more), so a short run
#: must find every one of them.
TINY = {
    "unmet_demand": "lost",
    "lead_time": 0,
    "demand": {"dist": "poisson", "mean": 1},
    "costs": {"holding": 1.0, "shortage": 4.0},
    "max_order": 3,
    "periods": 200,
}
#: Lost sales, L = 2: observation (on_hand, pipeline[0], inventory_position).
L2 = {"unmet_demand": "lost", "lead_time": 2, "demand": {"dist": "poisson", "mean": 5}, "max_order": 20}


def _recurrent_states(config: dict, policy, periods: int = 5000) -> set[int]:
    """On-hand levels the policy visits in a long simulated run (after 50 warm-up periods)."""
    cfg = parse_env_config(config)
    seen = set()
    for info in episode_infos(cfg, policy.act, seed=7, periods=periods, warmup=50):
        seen.add(int(info["on_hand"]))  # end-of-period stock = next period's state when L = 0
    return seen


@pytest.mark.parametrize("cls", [QLearning, Sarsa])
def test_learns_the_dp_optimal_action_in_every_recurrent_state(cls: type[TabularAgent]) -> None:
    cfg = parse_env_config(TINY)
    inst = DPInstance.from_config(cfg)
    sol = solve_optimal(inst)
    agent = cls(cfg, {}, seed=3).learn(30_000)  # defaults: average reward, differential TD
    states = _recurrent_states(TINY, sol.policy)
    assert len(states) >= 3
    for x in states:
        obs = np.array([x, x], dtype=np.float32)  # on_hand, inventory_position (L = 0: nothing on order)
        assert agent.act(obs) == sol.policy.act(obs), f"state on_hand={x}"
    assert evaluate_policy(inst, agent) == pytest.approx(sol.cost, rel=1e-9)


def _hand_agent(cls: type[TabularAgent], **hp) -> TabularAgent:
    agent = cls(TINY, {"alpha_exponent": 0.8, "gamma": 0.9, **hp}, seed=0)
    agent.q[1] = [-3.0, -2.0, -4.0, -5.0]  # state s
    agent.q[2] = [-7.0, -1.5, -6.0, -2.0]  # state s'
    assert agent.actions[1] == agent.actions[2] == [0, 1, 2, 3]
    agent.counts[1] = [0, 0, 4, 0]
    return agent


@pytest.mark.parametrize("criterion", ["discounted", "average"])
def test_td_targets_differ_exactly_as_defined(criterion: str) -> None:
    # transition s=1, slot a=2 (order 2), reward -2.5, s'=2, next action taken: slot 0 (value -7);
    # the 5th update of (s, a): alpha = 5^-0.8
    alpha = 5**-0.8
    q_learning = _hand_agent(QLearning, criterion=criterion)
    sarsa = _hand_agent(Sarsa, criterion=criterion)
    if criterion == "average":
        q_learning._rho[0] = sarsa._rho[0] = -1.25
        base = -2.5 + 1.25  # r - rho
    else:
        base = -2.5
        scale = 0.9
    factor = 1.0 if criterion == "average" else scale
    got_q = q_learning.update(1, 2, -2.5, 2, 0)
    got_s = sarsa.update(1, 2, -2.5, 2, 0)
    assert got_q == pytest.approx(-4.0 + alpha * (base + factor * -1.5 - -4.0), rel=1e-12)  # max Q(s') = -1.5
    assert got_s == pytest.approx(-4.0 + alpha * (base + factor * -7.0 - -4.0), rel=1e-12)  # Q(s', a') = -7
    assert q_learning.counts[1][2] == sarsa.counts[1][2] == 5
    assert q_learning.q[2] == sarsa.q[2] == [-7.0, -1.5, -6.0, -2.0]  # only Q(s, a) moves


def test_average_criterion_updates_rho_on_greedy_steps_only() -> None:
    beta = 0.1
    agent = _hand_agent(
        QLearning, criterion="average", rho_update="greedy", rho_learning_rate=beta, alpha_exponent=1.0
    )
    agent.counts[1] = [1, 0, 0, 0]
    # slot 1 (value -2) is greedy in s; first update, alpha = 1: Q(s,1) = r - rho + max Q(s') = -2.5 - 0 - 1.5
    # = -4.0, after which slot 0 (-3) is the max: slot 1 is not greedy any more, rho stays 0
    agent.update(1, 1, -2.5, 2, 0)
    assert agent.q[1][1] == -4.0 and agent.rho == 0.0
    # slot 0, second update, alpha = 1/2: Q(s,0) = -3 + (-1 - 0 - 1.5 + 3) / 2 = -2.75, still the max:
    # rho <- rho + beta (r - rho + max Q(s') - max Q(s))
    agent.update(1, 0, -1.0, 2, 0)
    assert agent.q[1][0] == -2.75
    assert agent.rho == pytest.approx(beta * (-1.0 - 0.0 + -1.5 - -2.75))


def test_exact_discretizer_indices_and_masks_by_hand() -> None:
    cfg = parse_env_config(L2)
    spec = ObsSpec.for_config(cfg)
    grid, cap = build_discretizer(cfg, spec, DiscretizerConfig(kind="exact", max_inventory_position=30))
    assert cap == 30
    assert [f.name for f in grid.features] == ["on_hand", "pipeline[0]"]
    assert [f.bins for f in grid.features] == [31, 21]  # on hand 0..30, pipeline 0..min(20, 30)
    assert grid.encode(np.array([3, 4, 7], dtype=np.float32)) == 3 * 21 + 4
    assert grid.encode(np.array([99, 40, 139], dtype=np.float32)) == 30 * 21 + 20  # clipped to the caps
    acts = allowed_actions(grid, ActionMap.for_config(cfg), 21, cap)
    assert acts[3 * 21 + 4] == list(range(21))  # IP 7: up to 23 allowed, max_order 20 binds
    assert acts[20 * 21 + 5] == [0, 1, 2, 3, 4, 5]  # IP 25: up to 30
    assert acts[30 * 21 + 20] == [0]
    up_to = parse_env_config({**L2, "action": {"mode": "order_up_to", "max_level": 40}})
    acts = allowed_actions(grid, ActionMap.for_config(up_to), 41, cap)
    assert acts[3 * 21 + 4] == list(range(7, 28))  # targets IP .. IP + max_order
    assert acts[20 * 21 + 5] == list(range(25, 31))  # .. the cap
    assert acts[30 * 21 + 20] == [40]  # IP 50 > max_level: the one target that orders nothing


def test_bucket_discretizer_by_hand() -> None:
    cfg = parse_env_config({**L2, "lead_time": 4})
    spec = ObsSpec.for_config(cfg)  # on_hand, pipeline[0..2], inventory_position
    grid, _ = build_discretizer(
        cfg, spec, DiscretizerConfig(kind="bucket", max_inventory_position=39, ip_width=4, pipeline_groups=1)
    )
    assert [f.name for f in grid.features] == ["inventory_position", "pipeline_group[0]"]
    ip_bins, pipe_bins = grid.features[0].bins, grid.features[1].bins
    assert ip_bins == 10 and pipe_bins == math.ceil((3 * 20 + 1) / 2)
    obs = np.array([5, 3, 4, 6, 18], dtype=np.float32)  # IP 18 -> bucket 4; pipeline 13 -> bucket 6
    assert grid.encode(obs) == 4 * pipe_bins + 6
    assert grid.inventory_positions()[4 * pipe_bins + 6] == 16.0  # low end of the bucket


def test_auto_discretizer_switches_to_buckets_and_bad_values_are_errors() -> None:
    long_lead = parse_env_config({**L2, "lead_time": 6})
    agent = QLearning(long_lead, {"discretizer": {"max_states": 5000}})
    assert agent.discretizer.features[0].name == "inventory_position"
    with pytest.raises(ConfigError, match="hyperparams.alpha_exponent"):
        QLearning(TINY, {"alpha_exponent": 0.4})
    with pytest.raises(ConfigError, match="Did you mean 'gamma'"):
        QLearning(TINY, {"gama": 0.9})
    with pytest.raises(PolicyError, match="max_states"):
        QLearning(long_lead, {"discretizer": {"kind": "exact", "max_states": 5000}})


def test_epsilon_schedules() -> None:
    lin = EpsilonSchedule(schedule="linear", start=1.0, end=0.1, decay_steps=100)
    assert [lin.value(t) for t in (0, 50, 100, 1000)] == pytest.approx([1.0, 0.55, 0.1, 0.1])
    exp = EpsilonSchedule(schedule="exponential", start=1.0, end=0.01, decay_fraction=0.5).resolved(400)
    assert exp.decay_steps == 200
    assert [exp.value(t) for t in (0, 100, 200, 300)] == pytest.approx([1.0, 0.1, 0.01, 0.01])
    with pytest.raises(ValueError, match="end"):
        EpsilonSchedule(start=0.1, end=0.5)


@pytest.mark.parametrize("criterion", ["discounted", "average"])
def test_seeded_runs_are_bit_identical(criterion: str) -> None:
    runs = [Sarsa(L2, {"criterion": criterion}, seed=s).learn(6000) for s in (11, 11, 12)]
    assert runs[0].q == runs[1].q and runs[0].counts == runs[1].counts and runs[0].rho == runs[1].rho
    assert runs[0].q != runs[2].q


def test_save_load_gives_identical_actions_and_refuses_tampering(tmp_path) -> None:
    agent = QLearning(L2, {"criterion": "average"}, seed=5).learn(20_000)
    path = agent.save(tmp_path / "agent")
    loaded = TabularAgent.load(path)
    assert type(loaded) is QLearning and loaded.q == agent.q and loaded.counts == agent.counts
    rng = np.random.default_rng(0)
    on_hand = rng.integers(0, 35, 1000)
    pipe = rng.integers(0, 22, 1000)
    obs = np.stack([on_hand, pipe, on_hand + pipe], axis=1).astype(np.float32)
    assert np.array_equal(loaded.predict(obs)[0], agent.predict(obs)[0])
    assert np.array_equal(loaded.greedy_actions(), agent.greedy_actions())
    # an object array in the npz: np.load(allow_pickle=False) refuses it
    arrays = dict(np.load(path / "table.npz"))
    arrays["q"] = np.array([object()], dtype=object)
    np.savez(path / "table.npz", **arrays)
    with pytest.raises(PolicyError, match="table.npz"):
        TabularAgent.load(path)
    meta = json.loads((path / "agent.json").read_text())
    meta["algorithm"] = "q_lerning"
    agent.save(tmp_path / "other")
    (tmp_path / "other" / "agent.json").write_text(json.dumps(meta))
    with pytest.raises(PolicyError, match="Did you mean 'q_learning'"):
        TabularAgent.load(tmp_path / "other")


class _StopAt(TabularCallback):
    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps

    def _on_step(self) -> bool:
        return self.num_timesteps < self.steps


def test_checkpoint_resume_equals_an_uninterrupted_run(tmp_path) -> None:
    hp = {"criterion": "discounted", "episode_periods": 500}
    full = Sarsa(L2, hp, seed=9).learn(6000)
    ckpt = CheckpointCallback(save_freq=2000, save_path=tmp_path)
    Sarsa(L2, hp, seed=9).learn(6000, callback=[ckpt, _StopAt(2500)])
    assert [p.name for p in ckpt.saved] == ["tabular_2000_steps"]  # stopped after the episode ending at 2500
    resumed = TabularAgent.load(ckpt.saved[0])
    assert resumed.num_timesteps == 2000 and resumed.episodes == 4
    resumed.learn(4000, reset_num_timesteps=False)
    assert resumed.num_timesteps == full.num_timesteps == 6000
    assert resumed.q == full.q and resumed.counts == full.counts
    assert resumed._rng.bit_generator.state == full._rng.bit_generator.state


def test_eval_callback_scores_on_fixed_seeds_keeps_the_best_and_stops_early() -> None:
    scores = iter([5.0, 4.0, 4.5, 4.2, 4.1])
    seen = []

    def evaluate(policy) -> float:
        seen.append(policy.num_timesteps)
        return next(scores)

    agent = QLearning(TINY, {}, seed=1)
    cb = EvalCallback(eval_freq=400, evaluate=evaluate, patience=2)
    best_table = []
    orig = agent.snapshot

    def snapshot():
        snap = orig()
        best_table.append(snap)
        return snap

    agent.snapshot = snapshot  # type: ignore[method-assign]
    agent.learn(10_000, callback=cb)
    assert seen == [400, 800, 1200, 1600]  # 2 evaluations without improvement after the best: stop
    assert agent.num_timesteps == 1600
    assert cb.best_cost == 4.0 and cb.best_timesteps == 800
    assert agent.q == best_table[-1][0]  # the table of the best evaluation is restored
    # simulation scores use the same seeds each time: the same table gets the same score
    sim = EvalCallback(eval_freq=1, n_eval_episodes=2, eval_periods=300)
    sim.init_callback(agent)
    assert sim.score() == sim.score()


@pytest.mark.parametrize("cls", [QLearning, Sarsa])
def test_differential_rho_moves_by_the_td_error_on_every_step(cls: type[TabularAgent]) -> None:
    beta = 0.05
    agent = _hand_agent(cls, criterion="average", rho_update="td", rho_learning_rate=beta, alpha_exponent=1.0)
    agent._rho[0] = -1.0
    # slot 3 (value -5, not greedy), 5th update: alpha = 1/5; next value T = -1.5 (max) or -7 (SARSA, slot 0)
    agent.counts[1][3] = 4
    t = -1.5 if cls is QLearning else -7.0
    delta = -2.0 - -1.0 + t - -5.0
    agent.update(1, 3, -2.0, 2, 0)
    assert agent.q[1][3] == pytest.approx(-5.0 + delta / 5)
    assert agent.rho == pytest.approx(-1.0 + beta * delta)
