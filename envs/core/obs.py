"""ObsSpec: the named layout of the observation vector.

The same spec builds the gymnasium ``Box``, turns a state dict (``{"on_hand": 7, "pipeline": [5, 3]}``)
into the vector a policy sees, and back. Training, evaluation and deployment therefore agree on what
index 3 means without anyone reading the env's code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from stocklab.envs.core.errors import PolicyError

if TYPE_CHECKING:  # the config composes demand models; the core contract only reads it
    from gymnasium import spaces

    from stocklab.envs.config import EnvConfig

#: Names of the demand-information fields (``observation.information`` forecast or oracle_mean).
FORECAST_MEAN = "forecast_mean"
FORECAST_STD = "forecast_std"

#: Upper bound of unbounded stock quantities in the observation space (units). Finite, so that the
#: env checkers accept the space, and far above any stock a sane instance reaches.
UNBOUNDED = 1e9


@dataclass(frozen=True, slots=True)
class ObsField:
    """One named block of the observation vector."""

    name: str
    size: int
    low: float
    high: float
    unit: str
    description: str


@dataclass(frozen=True)
class ObsSpec:
    """An ordered tuple of fields; the observation is their values concatenated (float32)."""

    fields: tuple[ObsField, ...]

    @classmethod
    def for_config(cls, config: EnvConfig) -> ObsSpec:
        """The observation layout of an env built from ``config``."""
        top = float(config.capacity) if config.capacity is not None else UNBOUNDED
        backorder = config.unmet_demand == "backorder"
        fields = [ObsField("on_hand", 1, 0.0, top, "units", "stock on hand after this period's arrivals")]
        if backorder:
            fields.append(ObsField("backlog", 1, 0.0, UNBOUNDED, "units", "demand waiting to be served"))
        if config.pipeline_length:
            fields.append(
                ObsField(
                    "pipeline", config.pipeline_length, 0.0, UNBOUNDED, "units",
                    "units on order; entry k is due within k + 1 periods (the last entry: or later)",
                )
            )  # fmt: skip
        fields.append(
            ObsField(
                "inventory_position", 1, -UNBOUNDED if backorder else 0.0, UNBOUNDED, "units",
                "on hand + on order - backlog",
            )
        )  # fmt: skip
        if config.observation.recent_demand:
            fields.append(
                ObsField(
                    "recent_demand", config.observation.recent_demand, 0.0, UNBOUNDED, "units",
                    "demand of the last periods, oldest first",
                )
            )  # fmt: skip
        info, horizon = config.observation.information, config.observation.forecast_horizon
        if info != "none":
            whose = "forecaster's" if info == "forecast" else "true (oracle)"
            fields.append(
                ObsField(
                    FORECAST_MEAN, horizon, 0.0, UNBOUNDED, "units",
                    f"{whose} mean demand of period t + k (entry 0 = the current period)",
                )
            )  # fmt: skip
            fields.append(
                ObsField(
                    FORECAST_STD, horizon, 0.0, UNBOUNDED, "units",
                    f"{whose} standard deviation of the demand of period t + k (entry 0 = the current period)",
                )
            )  # fmt: skip
        return cls(tuple(fields))

    # ---------------------------------------------------------------- layout
    @property
    def size(self) -> int:
        """Length of the observation vector."""
        return sum(f.size for f in self.fields)

    def index(self, name: str) -> slice:
        """The slice of field ``name`` in the vector."""
        start = 0
        for f in self.fields:
            if f.name == name:
                return slice(start, start + f.size)
            start += f.size
        raise KeyError(name)

    def has(self, name: str) -> bool:
        """Whether the spec holds a field called ``name``."""
        return any(f.name == name for f in self.fields)

    def names(self) -> list[str]:
        """One name per vector entry: ``on_hand``, ``pipeline[0]``, ``pipeline[1]``, ..."""
        out: list[str] = []
        for f in self.fields:
            out.extend([f.name] if f.size == 1 else [f"{f.name}[{i}]" for i in range(f.size)])
        return out

    def space(self) -> spaces.Box:
        """The gymnasium observation space (float32 Box with finite bounds)."""
        from gymnasium import spaces  # not at import: checking a config needs the spec, not gymnasium

        low = np.concatenate([np.full(f.size, f.low) for f in self.fields]).astype(np.float32)
        high = np.concatenate([np.full(f.size, f.high) for f in self.fields]).astype(np.float32)
        return spaces.Box(low=low, high=high, dtype=np.float32)

    # ------------------------------------------------------------ conversion
    def select(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """The spec's fields, in layout order, picked by name from ``fields`` (extra names are ignored).

        This is the state dict a policy or a deployment sees; values are passed through unchanged.
        """
        return {f.name: fields[f.name] for f in self.fields}

    def assemble(self, fields: Mapping[str, Any]) -> np.ndarray:
        """The observation (float32) from field values by name: the layout's only builder.

        For one state, a field is a number or a sequence of its size; the result has shape (size,).
        For a batch of B states, every field is a NumPy array: of shape (B,) (or (B, 1)) for a field of
        size 1, (B, n) for a field of size n; the result has shape (B, size). Values are not checked (see
        :meth:`vector` for validated input from outside).
        """
        picked = self.select(fields)
        first = picked[self.fields[0].name]
        if not isinstance(first, np.ndarray) or first.ndim == 0:  # one state
            values: list[Any] = []
            for v in picked.values():
                if isinstance(v, Sequence | np.ndarray):
                    values.extend(v)
                else:
                    values.append(v)
            return np.asarray(values, dtype=np.float32)
        out = np.empty((len(first), self.size), dtype=np.float32)
        for (start, stop), v in zip(self._slices, picked.values()):
            if stop - start == 1 and v.ndim == 1:
                out[:, start] = v
            else:
                out[:, start:stop] = v
        return out

    @cached_property
    def _slices(self) -> list[tuple[int, int]]:
        """(start, stop) of every field in the vector, in layout order."""
        out, start = [], 0
        for f in self.fields:
            out.append((start, start + f.size))
            start += f.size
        return out

    def vector(self, state: Mapping[str, Any]) -> np.ndarray:
        """Turn a state dict into the observation vector; ``inventory_position`` is derived if absent.

        Raises PolicyError naming the field when a value is missing, of the wrong length or out of range.
        """
        state = dict(state)
        if "inventory_position" not in state and self.has("inventory_position"):
            try:
                pipe = sum(float(u) for u in state.get("pipeline", []) or [])
                state["inventory_position"] = float(state["on_hand"]) + pipe - float(state.get("backlog", 0))
            except (KeyError, TypeError, ValueError):
                pass
        parts = []
        for f in self.fields:
            if f.name not in state:
                if f.name == "backlog":
                    state[f.name] = 0
                else:
                    raise PolicyError(f"state: missing field '{f.name}' ({f.description}, {f.unit})")
            raw = state[f.name]
            values = list(raw) if isinstance(raw, Sequence) and not isinstance(raw, str) else [raw]
            if len(values) != f.size:
                raise PolicyError(f"state.{f.name}: expected {f.size} value(s), got {len(values)} ({raw!r})")
            for v in values:
                if isinstance(v, bool) or not isinstance(v, int | float):
                    raise PolicyError(f"state.{f.name}: {v!r} is not a number")
                if not f.low <= v <= f.high:
                    raise PolicyError(f"state.{f.name}: {v!r} outside [{f.low:g}, {f.high:g}]")
            parts.extend(values)
        return np.asarray(parts, dtype=np.float32)

    def to_dict(self, vector: np.ndarray) -> dict[str, Any]:
        """Inverse of :meth:`vector`: ``{field: value or list}``."""
        out: dict[str, Any] = {}
        start = 0
        for f in self.fields:
            chunk = [float(x) for x in vector[start : start + f.size]]
            out[f.name] = chunk[0] if f.size == 1 else chunk
            start += f.size
        return out

    def to_json(self) -> list[dict[str, Any]]:
        """The spec as JSON-ready records (for manifests of exported policies)."""
        return [asdict(f) for f in self.fields]

    @classmethod
    def from_json(cls, records: list[dict[str, Any]]) -> ObsSpec:
        """Rebuild a spec saved by :meth:`to_json`."""
        return cls(tuple(ObsField(**r) for r in records))
