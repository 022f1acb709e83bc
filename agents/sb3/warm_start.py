"""Warm start of an actor-critic agent: imitate a capped base-stock rule before reinforcement learning.

The *capped base-stock* rule orders ``q = min(max(S - IP, 0), r)`` units (IP: the inventory position,
units; S: the level, units; r: the cap, units per period). Tuned, it is within ~0.1-1.5 % of the
optimum on Zipkin's (2008) lost-sales instances, where plain base-stock is 0.3-10 % away (Xin 2021,
"Understanding the performance of capped base-stock policies in lost-sales inventory models",
Operations Research 69(1)). Starting PPO there, rather than from a state-independent action prior,
leaves it the last fraction of a percent to learn instead of several percent.

:func:`warm_start` does four things before the first PPO update, all from the agent's seed:

1. **Tune (S, r) by simulation** on the batched engine
   (:func:`~stocklab.agents.sb3.teacher.tune_capped_rule`): every pair of a grid around the newsvendor
   level ``S0`` and caps from 0.6 to 2.4 times the mean demand per period, on common random numbers,
   the cheapest average cost per period kept.
2. **Roll the rule out** in ``n_envs`` envs (:func:`rule_rollout`), updating VecNormalize's
   statistics with what it sees, as training would.
3. **Improve it by rollouts** (:func:`improved_actions`,
   :func:`~stocklab.agents.sb3.teacher.improve_by_rollouts`): at the ``states`` states the rule visited
   most, the order is replaced where a simulated H-period lookahead shows another one cheaper beyond
   ``z`` standard errors (one step of policy improvement).
4. **Fit the network** to the improved rule (:func:`fit_network`): the actor by cross-entropy to a
   smoothed target ``softmax(-(a - a*(x))^2 / (2 w^2))`` around the improved action ``a*(x)`` (so
   that PPO's sampled actions still explore a unit or two either side), the critic by least squares
   to the discounted normalised returns of the rollout (so that the first advantages are not noise
   that would undo the imitation).

Only order-up-to and quantity action modes with integer actions exist, so the rule's action is
``min(S, IP + r)`` (order-up-to level) or ``min(max(S - IP, 0), r)`` (quantity), within the action space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from stocklab.agents.sb3.teacher import CappedRule, RolloutSpec, improve_by_rollouts, tune_capped_rule
from stocklab.envs.config import EnvConfig
from stocklab.envs.core.errors import PolicyError
from stocklab.envs.core.obs import ObsSpec
from stocklab.envs.vector_env import InventoryVectorEnv

#: Periods of the imitation rollout per env, and the tail left out of the critic's targets (periods:
#: gamma^120 < 0.003 at gamma 0.95, so the truncated returns are within 0.3 % of the true ones).
ROLLOUT_PERIODS = 640
RETURN_TAIL = 120


@dataclass(frozen=True)
class Rollout:
    """What the rule saw and did: raw observations (T, n, d), rewards (T, n), actions and dones (T, n)."""

    obs: np.ndarray
    rewards: np.ndarray
    actions: np.ndarray
    dones: np.ndarray


def rule_rollout(config: EnvConfig, rule: CappedRule, n_envs: int, periods: int, seed: int) -> Rollout:
    """``periods`` steps of ``rule`` in ``n_envs`` envs on the batched engine (seeds ``seed`` + i)."""
    venv = InventoryVectorEnv(n_envs, config)
    n_actions = int(venv.single_action_space.n)
    ip_index = venv.obs_spec.index("inventory_position").start
    obs, _ = venv.reset(seed=seed)
    shape = (periods, n_envs)
    out = Rollout(np.zeros((*shape, obs.shape[1]), np.float32), np.zeros(shape), np.zeros(shape, np.int64),
                  np.zeros(shape, bool))  # fmt: skip
    for t in range(periods):
        act = rule.actions(obs[:, ip_index], config.action.mode, n_actions)
        out.obs[t], out.actions[t] = obs, act
        obs, reward, terminated, truncated, _ = venv.step(act)
        out.rewards[t], out.dones[t] = reward, terminated | truncated
    return out


def discounted_returns(rewards: np.ndarray, dones: np.ndarray, gamma: float) -> np.ndarray:
    """``G_t = r_t + gamma G_{t+1}`` backwards over (T, n) arrays, restarting after every done."""
    out = np.zeros_like(rewards)
    running = np.zeros(rewards.shape[1])
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * running * (~dones[t])
        out[t] = running
    return out


def critic_mask(dones: np.ndarray, tail: int) -> np.ndarray:
    """(T, n) mask of the steps whose return sees at least ``tail`` periods before the episode or data ends."""
    periods = len(dones)
    left = np.zeros(dones.shape, dtype=np.int64)
    running = np.zeros(dones.shape[1], dtype=np.int64)
    for t in range(periods - 1, -1, -1):
        running = np.where(dones[t], 0, running + 1)
        left[t] = np.where(t == periods - 1, 0, running)
    return left >= tail


def normalised(venv: Any, rollout: Rollout, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Observations and rewards as a VecNormalize ``venv`` would show them, its statistics updated first.

    ``venv`` None (no normalisation): the raw arrays.
    """
    obs, rewards = rollout.obs, rollout.rewards
    if venv is None:
        return obs, rewards
    if venv.norm_obs:
        venv.obs_rms.update(obs.reshape(-1, obs.shape[-1]).astype(np.float64))
    if venv.norm_reward:
        running = np.zeros(rewards.shape[1])
        for t in range(len(rewards)):  # the return VecNormalize scales rewards by
            running = running * venv.gamma + rewards[t]
            venv.ret_rms.update(running)
            running[rollout.dones[t]] = 0.0
    return venv.normalize_obs(obs), venv.normalize_reward(rewards)


def fit_network(
    policy: Any,
    obs: np.ndarray,
    actions: np.ndarray,
    returns: np.ndarray,
    mask: np.ndarray,
    spec: WarmSpec,
    seed: int,
) -> float:
    """Fit an SB3 actor-critic ``policy`` to the rule (see the module docstring); returns the imitation rate.

    ``obs`` (N, d) as the network sees them, ``actions`` (N,) the rule's, ``returns`` (N,) the
    critic's targets where ``mask`` holds. The imitation rate: the share of ``obs`` where the fitted
    network's greedy action is the rule's.
    """
    import torch

    n_actions = int(policy.action_space.n)
    grid = torch.arange(n_actions, dtype=torch.float32)
    x = torch.as_tensor(obs, dtype=torch.float32)
    a = torch.as_tensor(actions, dtype=torch.float32)
    g = torch.as_tensor(returns, dtype=torch.float32)
    m = torch.as_tensor(mask, dtype=torch.float32)
    optimiser = torch.optim.Adam(policy.parameters(), lr=spec.learning_rate)
    rng = np.random.default_rng(seed)
    for _ in range(spec.epochs):
        for batch in np.array_split(rng.permutation(len(x)), max(1, len(x) // spec.batch_size)):
            idx = torch.as_tensor(batch)
            target = torch.softmax(-0.5 * ((grid[None, :] - a[idx, None]) / spec.width) ** 2, dim=1)
            latent_pi, latent_vf = policy.mlp_extractor(
                policy.extract_features(x[idx], policy.pi_features_extractor)
            )
            logits = policy.action_net(latent_pi)
            values = policy.value_net(latent_vf).squeeze(-1)
            actor = -(target * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
            critic = (m[idx] * (values - g[idx]) ** 2).sum() / m[idx].sum().clamp(min=1.0)
            optimiser.zero_grad()
            (actor + spec.value_weight * critic).backward()
            optimiser.step()
    with torch.no_grad():
        latent_pi, _ = policy.mlp_extractor(policy.extract_features(x, policy.pi_features_extractor))
        greedy = policy.action_net(latent_pi).argmax(dim=1)
    return float((greedy == a.long()).float().mean())


_WHOLE = (
    "epochs",
    "batch_size",
    "level",
    "cap",
    "paths",
    "horizon",
    "window",
    "states",
    "improve",
    "min_steps",
)


@dataclass(frozen=True)
class WarmSpec:
    """The ``warm_start`` hyper-parameter (every field optional).

    Imitation: ``width`` of the target (units of the action), ``epochs``, ``batch_size``,
    ``learning_rate`` and the critic's ``value_weight``. The rule: ``level`` and ``cap`` (units; both
    set: used as given, else tuned). Rollouts: ``paths`` (M), ``horizon`` (H, periods), ``window``
    (units either side of the rule's order), ``z`` (standard errors), ``states`` (most visited states
    improved), ``improve`` (0: imitate the rule itself). ``min_steps``: the smallest training budget
    (env steps) that gets a warm start.
    """

    width: float = 1.0
    epochs: int = 30
    batch_size: int = 512
    learning_rate: float = 1e-3
    value_weight: float = 1.0
    level: int | None = None
    cap: int | None = None
    paths: int = 1024
    horizon: int = 50
    window: int = 3
    z: float = 2.0
    states: int = 1000
    improve: int = 1
    min_steps: int = 100_000

    @classmethod
    def parse(cls, spec: Any) -> WarmSpec:
        """The spec of ``hyperparams.warm_start`` (a dict of the fields above); PolicyError otherwise."""
        if not isinstance(spec, dict):
            raise PolicyError(f"hyperparams.warm_start: {spec!r}; expected a mapping such as {{width: 1.0}}")
        fields = cls.__dataclass_fields__
        for key, value in spec.items():
            if key not in fields:
                raise PolicyError(f"hyperparams.warm_start.{key}: unknown; allowed: {', '.join(fields)}")
            low = 0 if key in ("improve", "level", "min_steps", "z") else 1e-300
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < low
            ):
                raise PolicyError(f"hyperparams.warm_start.{key}: {value!r}; expected a number >= {low:g}")
            if key in _WHOLE and value != int(value):
                raise PolicyError(f"hyperparams.warm_start.{key}: {value!r}; expected a whole number")
        return cls(**{k: int(v) if k in _WHOLE else float(v) for k, v in spec.items()})


def refusal(config: EnvConfig) -> str | None:
    """Why the warm start cannot run on ``config`` (None: it can).

    It needs what the batched engine's rollouts from a state need: whole-period dynamics, a fixed lead
    time (the observed pipeline is then the whole state) and stationary demand (a state means the same
    at every period). Elsewhere the agent starts from its action prior.
    """
    batched = config.batched_refusal()
    if batched is not None:
        return f"{batched[0]}: {batched[1]}"
    if config.lead_time.fixed is None:
        return "env.lead_time: random"
    if not config.demand.stationary:
        return "env.demand: not stationary"
    return None


def warm_start(agent: Any, spec: Any) -> dict[str, Any]:
    """Fit ``agent``'s network (an SB3Agent of an actor-critic algorithm) to a tuned, improved capped rule.

    Returns what was done: the rule, its simulated cost (money per period), the number of states whose
    order the rollouts changed and the imitation rate; or ``{"skipped": why}`` (:func:`refusal`).
    """
    ws = WarmSpec.parse(spec)
    policy = agent.model.policy
    if getattr(policy, "action_net", None) is None or getattr(policy, "value_net", None) is None:
        raise PolicyError(
            f"hyperparams.warm_start: {type(agent.model).__name__} has no actor and critic to fit"
        )
    config: EnvConfig = agent.env_config
    reason = refusal(config)
    if reason is not None:
        return {"skipped": reason}
    if ws.level is not None and ws.cap is not None:
        rule, cost = CappedRule(ws.level, ws.cap), float("nan")
    else:
        rule, cost = tune_capped_rule(config, agent.seed)
    gamma = float(agent.model.gamma)
    rollout = rule_rollout(config, rule, agent.n_envs, ROLLOUT_PERIODS, agent.seed + 7_919)
    venv = agent.venv if agent._norm_kwargs is not None else None
    obs, rewards = normalised(venv, rollout, gamma)
    returns = discounted_returns(rewards, rollout.dones, gamma)
    mask = critic_mask(rollout.dones, RETURN_TAIL)
    actions, changed = rollout.actions.reshape(-1), 0
    if ws.improve:
        actions, changed = improved_actions(config, rule, rollout, ws, agent.seed + 104_729)
    rate = fit_network(
        policy, obs.reshape(-1, obs.shape[-1]), actions, returns.reshape(-1), mask.reshape(-1), ws, agent.seed
    )  # fmt: skip
    return {"level": rule.level, "cap": rule.cap, "simulated_cost": cost, "imitation_rate": rate,
            "states_improved": changed}  # fmt: skip


def improved_actions(
    config: EnvConfig, rule: CappedRule, rollout: Rollout, ws: WarmSpec, seed: int
) -> tuple[np.ndarray, int]:
    """The rollout's actions, improved by :func:`improve_by_rollouts` at its ``ws.states`` most visited states.

    Returns the (T * n,) actions and the number of states whose order changed.
    """
    raw = np.rint(rollout.obs.reshape(-1, rollout.obs.shape[-1])).astype(np.int64)
    states, inverse, counts = np.unique(raw, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    top = np.sort(np.argsort(-counts, kind="stable")[: ws.states])
    spec = RolloutSpec(ws.paths, ws.horizon, ws.window, ws.z)
    ip_col = ObsSpec.for_config(config).index("inventory_position").start
    ip = states[top, ip_col]
    order = improve_by_rollouts(config, rule, states[top].astype(np.float64), spec, seed)
    base = rule.orders(ip, config.max_order)
    if config.action.mode == "order_up_to":
        rule_act = rule.actions(ip, "order_up_to", config.action.max_level + 1)  # type: ignore[operator]
        act = np.where(order > 0, ip + order, np.minimum(rule_act, np.maximum(ip, 0)))
    else:
        act = order
    table = np.full(len(states), -1, dtype=np.int64)
    table[top] = act
    out = rollout.actions.reshape(-1).copy()
    labelled = table[inverse] >= 0
    out[labelled] = table[inverse][labelled]
    return out, int((order != base).sum())
