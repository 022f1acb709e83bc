"""Roll policies out in InventoryEnv on common random numbers and collect per-episode KPIs."""

from __future__ import annotations

from collections.abc import Callable

from stocklab.envs import EnvConfig, InventoryEnv
from stocklab.envs.policy import Policy
from stocklab.experiments.kpis import EpisodeStats


def run_episode(
    config: EnvConfig, policy: Policy, seed: int, periods: int, warmup: int = 0
) -> EpisodeStats:
    """One episode of ``warmup + periods`` periods; KPIs count only the last ``periods``."""
    env = InventoryEnv(config)
    obs, _ = env.reset(seed=seed)
    stats = EpisodeStats()
    for t in range(warmup + periods):
        obs, _, terminated, _, info = env.step(policy.act(obs))
        if t >= warmup:
            stats.add(info)
        if terminated:
            break
    return stats


def evaluate(
    config: EnvConfig,
    policy: Policy,
    seeds: list[int],
    periods: int,
    warmup: int = 0,
    progress: Callable[[], None] | None = None,
) -> list[EpisodeStats]:
    """One episode per seed; the same seeds give every policy the same demand (common random numbers)."""
    out = []
    for seed in seeds:
        out.append(run_episode(config, policy, seed, periods, warmup))
        if progress is not None:
            progress()
    return out
