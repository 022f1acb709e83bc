"""Evaluation episodes: the one episode runner of stocklab, and the per-episode results row.

Every policy is run on the same episode seeds (common random numbers): an episode's demand depends
on its seed alone, never on the policy, so per-episode differences between policies are paired.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stocklab.envs.config import EnvConfig
from stocklab.envs.core.policy import Policy
from stocklab.envs.rollout import episode_infos
from stocklab.experiments.analysis.kpis import EpisodeStats

#: One row of the trace of an episode: see :data:`stocklab.experiments.store.TRACE_COLUMNS`.
TraceRow = tuple[int, float, int, int, int, int, int]


def run_episode(
    env: EnvConfig, policy: Policy, seed: int, periods: int, warmup: int = 0, trace_periods: int = 0
) -> tuple[EpisodeStats, list[TraceRow]]:
    """One evaluation episode: ``warmup`` periods, then ``periods`` measured periods, under ``seed``.

    Returns the KPI sums of the measured periods and, for ``trace_periods`` > 0, the first measured
    periods as trace rows (period, inventory position before ordering, on hand, backlog, order,
    demand, lost). When the policy sees a forecast (``observation.information: forecast``; field
    ``forecast_mean``, entry 0 = the period about to be served), each period's forecast is scored
    against its demand (the forecast-accuracy KPIs).
    """
    policy.reset()  # policies that count periods (forecast hooks) start a new episode
    spec = policy.obs_spec
    ip = spec.index("inventory_position").start
    fc = spec.index("forecast_mean").start if env.observation.information == "forecast" else None
    seen: list[tuple[float, float | None]] = []  # (inventory position, forecast) at each decision

    def act(obs: Any) -> int:
        seen.append((float(obs[ip]), None if fc is None else float(obs[fc])))
        return policy.act(obs)

    stats, trace = EpisodeStats(), []
    for t, info in enumerate(episode_infos(env, act, seed, periods, warmup)):
        position, forecast = seen[warmup + t]
        stats.add(info if forecast is None else {**info, "forecast": forecast})
        if t < trace_periods:
            trace.append(
                (t, position, info["on_hand"], info["backlog"], info["order"], info["demand"], info["lost"])
            )
    return stats, trace


def evaluate(
    env: EnvConfig,
    policy: Policy,
    seeds: list[int],
    periods: int,
    warmup: int = 0,
    progress: Callable[[], None] | None = None,
) -> list[EpisodeStats]:
    """One episode per seed (``warmup`` + ``periods`` periods each); KPIs of the measured periods."""
    out = []
    for seed in seeds:
        out.append(run_episode(env, policy, seed, periods, warmup)[0])
        if progress is not None:
            progress()
    return out


def episode_row(name: str, kind: str, index: int, seed: int, stats: EpisodeStats) -> dict[str, Any]:
    """One row of the per-episode results schema (:data:`stocklab.experiments.store.EPISODE_COLUMNS`)."""
    return {
        "policy": name, "kind": kind, "episode": index, "seed": seed, "periods": stats.periods,
        **stats.kpis(), "demand": stats.demand, "served_from_stock": stats.served_from_stock,
    }  # fmt: skip
