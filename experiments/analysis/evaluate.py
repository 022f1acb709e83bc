"""Evaluate policies in InventoryEnv on common random numbers and collect per-episode KPIs."""

from __future__ import annotations

from collections.abc import Callable

from stocklab.envs import EnvConfig
from stocklab.envs.core.policy import Policy
from stocklab.envs.rollout import episode_infos
from stocklab.experiments.analysis.kpis import EpisodeStats


def run_episode(config: EnvConfig, policy: Policy, seed: int, periods: int, warmup: int = 0) -> EpisodeStats:
    """One episode of ``warmup + periods`` periods; KPIs count only the last ``periods``."""
    stats = EpisodeStats()
    for info in episode_infos(config, policy.act, seed, periods, warmup):
        stats.add(info)
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
