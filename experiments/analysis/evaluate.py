"""Evaluation episodes: the one episode runner of stocklab, and the per-episode results row.

Every policy is run on the same episode seeds (common random numbers): an episode's demand depends
on its seed alone, never on the policy, so per-episode differences between policies are paired.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stocklab.envs.config import EnvConfig
from stocklab.envs.core.policy import Policy
from stocklab.envs.rollout import rollout
from stocklab.experiments.analysis.kpis import EpisodeStats

#: One row of the trace of an episode: see :data:`stocklab.experiments.store.TRACE_COLUMNS`.
TraceRow = tuple[int, float, int, int, int, int, int]


def run_episodes(
    env: EnvConfig,
    policy: Policy,
    seeds: list[int],
    periods: int,
    warmup: int = 0,
    trace_periods: int = 0,
) -> list[tuple[EpisodeStats, list[TraceRow]]]:
    """Evaluation episodes, one per seed: ``warmup`` periods, then ``periods`` measured periods.

    Returns, per episode, the KPI sums of the measured periods and, for ``trace_periods`` > 0, the
    first measured periods as trace rows (period, inventory position before ordering, on hand,
    backlog, order, demand, lost). When the policy sees a forecast (``observation.information:
    forecast``; field ``forecast_mean``, entry 0 = the period about to be served), each period's
    forecast is scored against its demand (the forecast-accuracy KPIs). The episodes run on the env's
    engine (:func:`stocklab.envs.rollout.rollout`); an episode's numbers depend on its seed alone, so
    they are the same whichever episodes run together.
    """
    ro = rollout(env, policy, seeds, periods, warmup)
    out = []
    for e in range(len(seeds)):
        stats, trace = EpisodeStats(), []
        for t, info in enumerate(ro.infos(e)):
            stats.add(info)
            if t < trace_periods:
                trace.append(
                    (t, info["position"], info["on_hand"], info["backlog"], info["order"], info["demand"],
                     info["lost"])
                )  # fmt: skip
        out.append((stats, trace))
    return out


def run_episode(
    env: EnvConfig, policy: Policy, seed: int, periods: int, warmup: int = 0, trace_periods: int = 0
) -> tuple[EpisodeStats, list[TraceRow]]:
    """One evaluation episode (see :func:`run_episodes`)."""
    return run_episodes(env, policy, [seed], periods, warmup, trace_periods)[0]


def evaluate(
    env: EnvConfig,
    policy: Policy,
    seeds: list[int],
    periods: int,
    warmup: int = 0,
    progress: Callable[[], None] | None = None,
) -> list[EpisodeStats]:
    """One episode per seed (``warmup`` + ``periods`` periods each); KPIs of the measured periods."""
    out = [stats for stats, _ in run_episodes(env, policy, seeds, periods, warmup)]
    if progress is not None:
        for _ in out:
            progress()
    return out


def episode_row(name: str, kind: str, index: int, seed: int, stats: EpisodeStats) -> dict[str, Any]:
    """One row of the per-episode results schema (:data:`stocklab.experiments.store.EPISODE_COLUMNS`)."""
    return {
        "policy": name, "kind": kind, "episode": index, "seed": seed, "periods": stats.periods,
        **stats.kpis(), "demand": stats.demand, "served_from_stock": stats.served_from_stock,
    }  # fmt: skip
