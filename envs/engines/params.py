"""The parameters of B stocking points as arrays, and the check that the batched engine is exact for them.

A batch is either B replications of one config or one config per stocking point (a catalogue). A
parameter equal at every stocking point is kept as a Python number, so the engine's arithmetic runs
on scalars where it can; otherwise it is a (B,) array.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from stocklab.envs.config import EnvConfig, parse_env_config
from stocklab.envs.core.actions import ActionMap
from stocklab.envs.core.errors import ConfigError
from stocklab.envs.core.obs import UNBOUNDED, ObsSpec

#: Stands for "no capacity" where some stocking points of a batch have one and others do not (units).
NO_CAPACITY = 2**62


def check_exact(config: EnvConfig) -> None:
    """Raise ConfigError naming the field when the batched engine cannot simulate ``config`` exactly."""
    why = config.batched_refusal()
    if why is not None:
        field, reason = why
        raise ConfigError(
            f"{field}: the batched engine simulates whole periods only, and {reason} "
            "(stock usable mid-period, or events inside a period); use engine 'simpy' (or 'auto', "
            "which picks it) for this config"
        )


def _collapse(values: Sequence[Any], dtype: Any) -> Any:
    """One Python number when all ``values`` are equal, else a (B,) array."""
    arr = np.asarray(values, dtype=dtype)
    if len(arr) and (arr == arr[0]).all():
        return arr[0].item()
    return arr


@dataclass
class BatchParams:
    """Per-stocking-point parameters (scalars when equal everywhere, else (B,) arrays)."""

    configs: list[EnvConfig]
    size: int
    obs_spec: ObsSpec
    action_map: ActionMap
    lost_sales: bool
    holding: Any
    shortage: Any
    fixed_order: Any
    unit_order: Any
    capacity: Any  # None: no stocking point has a capacity
    fixed_lead: int | None  # the lead time when it is fixed and equal everywhere
    in_sequence: Any
    initial_on_hand: np.ndarray
    initial_backlog: np.ndarray
    initial_pipeline: np.ndarray  # (len, B): units due at the start of period k + 1
    horizon: Any  # None: no demand model stops
    history: int
    information: str
    forecast_horizon: int

    @classmethod
    def build(cls, config: Any, num: int | None) -> BatchParams:
        """Parameters of ``num`` replications of one config, or of one config per stocking point."""
        if isinstance(config, EnvConfig | dict) or config is None:
            one = parse_env_config(config)
            n = 1 if num is None else int(num)
            if n < 1:
                raise ConfigError(f"num (={n}) must be >= 1 stocking points")
            configs = [one] * n
        else:
            configs = [parse_env_config(c) for c in config]
            if not configs:
                raise ConfigError("a batch needs at least one env config")
            if num is not None and num != len(configs):
                raise ConfigError(f"num (={num}) differs from the {len(configs)} configs given")
        first = configs[0]
        for k, c in distinct(configs).items():
            check_exact(c)
            same_layout(first, c, k)
        return cls._from_configs(configs)

    @classmethod
    def _from_configs(cls, configs: list[EnvConfig]) -> BatchParams:
        first = configs[0]
        caps = [c.capacity for c in configs]
        capacity = None if all(c is None for c in caps) else _collapse(
            [NO_CAPACITY if c is None else c for c in caps], np.int64
        )  # fmt: skip
        fixed = [c.lead_time.fixed for c in configs]
        fixed_lead = fixed[0] if all(f is not None and f == fixed[0] for f in fixed) else None
        width = max(len(c.initial.pipeline) for c in configs)
        pipeline = np.zeros((width, len(configs)), dtype=np.int64)
        for i, c in enumerate(configs):
            pipeline[: len(c.initial.pipeline), i] = c.initial.pipeline
        horizons = [c.demand.horizon for c in configs]
        amap = batch_action_map(configs)
        return cls(
            configs=configs, size=len(configs), obs_spec=batch_layout(configs), action_map=amap,
            lost_sales=first.unmet_demand == "lost",
            holding=_collapse([c.costs.holding for c in configs], np.float64),
            shortage=_collapse([c.costs.shortage for c in configs], np.float64),
            fixed_order=_collapse([c.costs.fixed_order for c in configs], np.float64),
            unit_order=_collapse([c.costs.unit_order for c in configs], np.float64),
            capacity=capacity, fixed_lead=fixed_lead,
            in_sequence=_collapse([c.lead_time.in_sequence and c.lead_time.fixed is None for c in configs], bool),
            initial_on_hand=np.asarray([c.initial.on_hand for c in configs], dtype=np.int64),
            initial_backlog=np.asarray([c.initial.backlog for c in configs], dtype=np.int64),
            initial_pipeline=pipeline,
            horizon=None if all(h is None for h in horizons) else np.asarray(
                [np.iinfo(np.int64).max if h is None else h for h in horizons], dtype=np.int64
            ),
            history=first.observation.recent_demand,
            information=first.observation.information,
            forecast_horizon=first.observation.forecast_horizon,
        )  # fmt: skip


def distinct(configs: list[EnvConfig]) -> dict[int, EnvConfig]:
    """The distinct config objects of a batch by their first index (N replications of one config: one)."""
    seen: dict[int, int] = {}
    for k, c in enumerate(configs):
        seen.setdefault(id(c), k)
    return {k: configs[k] for k in seen.values()}


def batch_action_map(configs: list[EnvConfig]) -> ActionMap:
    """The batch's action map: the shared action mode with each stocking point's limits."""
    first = configs[0]
    return ActionMap(
        first.action.mode,
        _collapse([c.max_order for c in configs], np.int64),
        None
        if first.action.max_level is None
        else _collapse([c.action.max_level for c in configs], np.int64),
    )


def batch_layout(configs: list[EnvConfig]) -> ObsSpec:
    """The batch's observation layout: that of the config with the most pipeline slots.

    A stocking point with a shorter pipeline shows zeros in the extra slots (its orders never occupy
    them); on-hand stock is bounded by the largest capacity (unbounded if one has none).
    """
    longest = max(distinct(configs).values(), key=lambda c: c.pipeline_length)
    spec = ObsSpec.for_config(longest)
    caps = [c.capacity for c in configs if c.capacity is not None]
    top = float(max(caps)) if len(caps) == len(configs) else UNBOUNDED
    return ObsSpec(tuple(replace(f, high=top) if f.name == "on_hand" else f for f in spec.fields))


def same_layout(first: EnvConfig, other: EnvConfig, k: int) -> None:
    """Stocking points of one batch share the unmet-demand rule, the action mode and observation fields."""
    for key, a, b in (
        ("unmet_demand", first.unmet_demand, other.unmet_demand),
        ("action.mode", first.action.mode, other.action.mode),
        ("observation", first.observation, other.observation),
    ):
        if a != b:
            raise ConfigError(
                f"configs[{k}].{key} (={b!r}) differs from configs[0] (={a!r}); the stocking points of "
                "one batch share the unmet-demand rule, the action mode and the observation fields"
            )
