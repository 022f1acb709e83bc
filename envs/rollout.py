"""Roll a policy out over evaluation episodes: the one simulation loop that evaluation and tuning share.

:func:`rollout` runs one episode per seed on either engine and returns a :class:`Rollout`: every
period's flows and costs as (episodes, periods) arrays, plus what the policy saw at each decision.
Episode seed s gives the demand and lead times that ``InventoryEnv.reset(seed=s)`` gives, on both
engines, so results do not depend on the engine (only the speed does):

* ``batched`` (the default where exact, see ``EnvConfig.resolved_engine``): a stateless policy
  (``Policy.stateful`` false) acts on all episodes at once through ``Policy.act_batch``, one
  :class:`~stocklab.envs.engines.batched.BatchedEngine` step per period for every episode; a
  stateful policy, or a bare function, is stepped one episode at a time (its memory never mixes
  episodes), still on the batched engine.
* ``simpy``: InventoryEnv, one episode at a time.

The runner's contract, for each episode e (0-based, in ``seeds`` order)::

    ro = rollout(config, policy, seeds, periods, warmup)
    for t, info in enumerate(ro.infos(e)):   # the measured periods, after the warm-up
        info["cost"], info["order"], ...      # InventoryEnv.step's info dict (Python numbers)
        info["position"]                      # inventory position the policy saw (float, units)
        info.get("forecast")                  # forecast_mean[0] it saw, with information: forecast
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from gymnasium.utils import seeding

from stocklab.envs.config import EnvConfig
from stocklab.envs.core.obs import FORECAST_MEAN
from stocklab.envs.core.policy import Policy
from stocklab.envs.engines.batched import BatchedEngine
from stocklab.envs.engines.flows import FLOW_FIELDS
from stocklab.envs.engines.params import check_exact
from stocklab.envs.inventory_env import InventoryEnv

Act = Callable[[np.ndarray], int]
Engine = Literal["auto", "simpy", "batched"]

#: The columns of :attr:`Rollout.flows`: InventoryEnv's info keys (``cost`` first).
COLUMNS = ("cost", *FLOW_FIELDS)


def resolve_engine(config: EnvConfig, engine: Engine | None = None) -> Literal["simpy", "batched"]:
    """The engine to simulate ``config`` with.

    ``engine`` (default ``config.engine``); ``auto`` -> batched where exact. Raises ConfigError
    naming the field when ``batched`` is asked for but is not exact.
    """
    engine = engine or config.engine
    if engine == "auto":
        return config.resolved_engine
    if engine == "batched":
        check_exact(config)
    return engine


def env_seed(seed: int) -> int:
    """The episode seed of the simulator when ``InventoryEnv.reset(seed=seed)`` starts an episode.

    InventoryEnv seeds its generator with ``seed`` and draws one integer from it for the simulator,
    so ``BatchedEngine.reset([env_seed(s)])`` and ``InventoryEnv.reset(seed=s)`` see the same demand.
    """
    rng, _ = seeding.np_random(int(seed))
    return int(rng.integers(2**63))


def start_episode(policy: Policy | Act) -> Act:
    """The action function of ``policy`` (a Policy or its ``act``), reset for a new episode.

    Resetting makes per-episode memory (a forecast's period counter) start afresh.
    """
    owner = policy if isinstance(policy, Policy) else getattr(policy, "__self__", None)
    if isinstance(owner, Policy):
        owner.reset()
    return policy.act if isinstance(policy, Policy) else policy


def batch_policy(policy: Policy | Act) -> Policy | None:
    """The Policy that may act on all episodes at once (stateless, given as itself or its ``act``)."""
    owner = policy if isinstance(policy, Policy) else getattr(policy, "__self__", None)
    if not isinstance(owner, Policy) or owner.stateful:
        return None
    return owner if policy is owner or policy == owner.act else None


@dataclass
class Rollout:
    """What happened in each measured period of each episode (after the warm-up).

    ``flows[name]`` is an (episodes, periods) array for every name of :data:`COLUMNS` (units of stock,
    int64; costs, money per period, float64). ``position`` (float64) is the inventory position in the
    observation at each measured decision, ``forecast`` the observation's ``forecast_mean[0]`` (None
    unless ``observation.information: forecast``). ``totals`` is each episode's cost summed in period
    order. ``periods`` may be below the periods asked for when a replayed demand stops first. Without
    recording (``record=False``) the arrays have no columns and only ``totals`` is filled.
    """

    seeds: list[int]
    periods: int
    engine: str
    flows: dict[str, np.ndarray]
    position: np.ndarray
    forecast: np.ndarray | None
    totals: np.ndarray

    def infos(self, episode: int) -> Iterator[dict[str, Any]]:
        """Episode ``episode``'s measured periods as InventoryEnv ``info`` dicts (Python numbers).

        Each has ``position`` and, when recorded, ``forecast`` added.
        """
        cols = {name: self.flows[name][episode].tolist() for name in COLUMNS}
        position = self.position[episode].tolist()
        forecast = None if self.forecast is None else self.forecast[episode].tolist()
        for t in range(self.periods):
            info = {name: cols[name][t] for name in COLUMNS}
            info["position"] = position[t]
            if forecast is not None:
                info["forecast"] = forecast[t]
            yield info

    def costs(self) -> np.ndarray:
        """Average cost per period of each episode (money per period)."""
        return self.totals / max(self.periods, 1)


def measured_periods(config: EnvConfig, periods: int, warmup: int) -> tuple[int, int]:
    """(periods stepped, periods measured) of an episode: a replayed demand that stops ends it early."""
    steps = warmup + periods
    horizon = config.demand.horizon
    if horizon is not None:
        steps = min(steps, horizon)
    return steps, max(0, steps - warmup)


class _Recorder:
    """Preallocated (episodes, periods) arrays, and each episode's cost summed in period order.

    The order of a Python loop over the periods, so the sums are bit for bit those of such a loop.
    """

    def __init__(self, config: EnvConfig, episodes: int, periods: int, record: bool) -> None:
        shape = (episodes, periods if record else 0)
        self.flows = {
            name: np.zeros(shape, dtype=np.float64 if name.endswith("cost") else np.int64) for name in COLUMNS
        }
        self.cost_total = np.zeros(episodes)
        self.position = np.zeros(shape)
        spec_fc = config.observation.information == "forecast"
        self.forecast = np.zeros(shape) if spec_fc else None
        self.record = record


def rollout(
    config: EnvConfig,
    policy: Policy | Act,
    seeds: Sequence[int],
    periods: int,
    warmup: int = 0,
    *,
    engine: Engine | None = None,
    record: bool = True,
) -> Rollout:
    """One episode per seed of ``warmup`` + ``periods`` periods; see the module docstring.

    ``record=False`` keeps only each episode's cost (``flows["cost"]`` then has no columns; use
    :func:`episode_costs`).
    """
    seeds = [int(s) for s in seeds]
    which = resolve_engine(config, engine)
    steps, measured = measured_periods(config, periods, warmup)
    rec = _Recorder(config, len(seeds), measured, record)
    batch = batch_policy(policy)
    if which == "batched" and batch is not None and seeds:
        _run_batched(config, batch.act_batch, seeds, steps, warmup, rec, range(len(seeds)))
    elif which == "batched":
        for e, seed in enumerate(seeds):
            act = start_episode(policy)
            one = lambda obs, act=act: np.asarray([act(obs[0])], dtype=np.int64)  # noqa: E731
            _run_batched(config, one, [seed], steps, warmup, rec, [e])
    else:
        for e, seed in enumerate(seeds):
            _run_simpy(config, start_episode(policy), seed, steps, warmup, rec, e)
    return Rollout(seeds, measured, which, rec.flows, rec.position, rec.forecast, rec.cost_total)


def _run_batched(
    config: EnvConfig,
    act_batch: Callable[[np.ndarray], np.ndarray],
    seeds: list[int],
    steps: int,
    warmup: int,
    rec: _Recorder,
    rows: Sequence[int],
) -> None:
    engine = BatchedEngine(config, len(seeds))
    engine.reset([env_seed(s) for s in seeds])
    spec, amap = engine.obs_spec, engine.action_map
    ip = spec.index("inventory_position").start
    fc = spec.index(FORECAST_MEAN).start if rec.forecast is not None else None
    sel: Any = slice(None) if len(rows) == rec.cost_total.shape[0] else np.asarray(rows)
    seen, periods = [], []  # per measured period: the observations, the flows
    for t in range(steps):
        obs = engine.observe()
        flows = engine.step(amap.orders(act_batch(obs), engine.inventory_position))
        if t >= warmup:
            seen.append(obs)
            periods.append(flows)
    if not periods:
        return
    costs = np.stack([f.cost for f in periods], axis=1)  # (episodes, measured periods)
    # np.add.accumulate adds in period order, as a Python loop would: the same float sums
    rec.cost_total[sel] = np.add.accumulate(costs, axis=1)[:, -1]
    if rec.record:
        for name in FLOW_FIELDS:
            rec.flows[name][sel] = np.stack([getattr(f, name) for f in periods], axis=1)
        rec.flows["cost"][sel] = costs
        observed = np.stack(seen, axis=1)  # (episodes, periods, obs size)
        rec.position[sel] = observed[:, :, ip]
        if fc is not None:
            rec.forecast[sel] = observed[:, :, fc]  # type: ignore[index]


def _run_simpy(
    config: EnvConfig, act: Act, seed: int, steps: int, warmup: int, rec: _Recorder, e: int
) -> None:
    env = InventoryEnv(config)
    obs, _ = env.reset(seed=seed)
    ip = env.obs_spec.index("inventory_position").start
    fc = env.obs_spec.index(FORECAST_MEAN).start if rec.forecast is not None else None
    for t in range(steps):
        seen = obs
        obs, _, _, _, info = env.step(act(obs))
        if t < warmup:
            continue
        rec.cost_total[e] += info["cost"]
        if rec.record:
            k = t - warmup
            for name in COLUMNS:
                rec.flows[name][e, k] = info[name]
            rec.position[e, k] = seen[ip]
            if fc is not None:
                rec.forecast[e, k] = seen[fc]  # type: ignore[index]


def episode_infos(
    config: EnvConfig,
    policy: Policy | Act,
    seed: int,
    periods: int,
    warmup: int = 0,
    engine: Engine | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield the ``info`` dict of each of the ``periods`` periods after ``warmup`` periods.

    ``policy`` is a Policy or a function from an observation vector to an action (e.g. ``policy.act``).
    The episode's randomness comes from ``seed`` alone, so every policy run on the same seed sees the
    same demand, on either engine.
    """
    yield from rollout(config, policy, [seed], periods, warmup, engine=engine).infos(0)


def episode_costs(
    config: EnvConfig,
    policy: Policy | Act,
    seeds: list[int],
    periods: int,
    warmup: int = 0,
    engine: Engine | None = None,
) -> np.ndarray:
    """Average cost per period of each episode (one per seed), after ``warmup`` periods."""
    return rollout(config, policy, seeds, periods, warmup, engine=engine, record=False).costs()
