"""Observation vectors from states given by field name: what every deployed policy reads.

A state is a mapping of the ObsSpec's field names to numbers (lists for vector fields), e.g.
``{"on_hand": 7, "pipeline": [5, 3]}``; ``backlog`` defaults to 0 and ``inventory_position`` is
derived as on hand + pipeline - backlog when absent, and must equal that sum when given. Any other
name is refused (a typo would otherwise be ignored), except the identifiers of :data:`PASS_THROUGH`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from stocklab.envs.core.errors import PolicyError, did_you_mean
from stocklab.envs.core.obs import ObsSpec

#: State fields accepted besides the ObsSpec's: an identifier passed through untouched.
PASS_THROUGH = ("sku",)
#: Largest |inventory_position - (on hand + pipeline - backlog)| (units) treated as rounding.
IP_TOLERANCE = 1e-6


def _numbers(value: Any) -> list[float] | None:
    """``value`` as a list of finite numbers (a number or a list of them), or None."""
    values = list(value) if isinstance(value, list | tuple) else [value]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        return None
    return [float(v) for v in values]


class StateVectors:
    """Turns named states into observation rows of ``obs_spec`` (set by the class that mixes it in)."""

    obs_spec: ObsSpec
    _fields: list[str]

    def _check_names(self, state: Mapping[str, Any], label: str) -> None:
        for key in state:
            if key not in self._fields and key not in PASS_THROUGH:
                raise PolicyError(
                    f"{label}: unknown field {key!r}.{did_you_mean(str(key), self._fields)} This policy reads "
                    f"{', '.join(self._fields)} (and an optional {', '.join(PASS_THROUGH)} passed through)"
                )

    @staticmethod
    def _ip_terms(state: Mapping[str, Any]) -> tuple[float, list[float], float] | None:
        """(on hand, pipeline, backlog) of a state as numbers, or None when one is malformed or missing."""
        on_hand = _numbers(state.get("on_hand"))
        pipeline = _numbers(state.get("pipeline", []) or [])
        backlog = _numbers(state.get("backlog", 0))
        if "on_hand" not in state or on_hand is None or pipeline is None or backlog is None:
            return None
        if len(on_hand) != 1 or len(backlog) != 1:
            return None
        return on_hand[0], pipeline, backlog[0]

    def _derived_inventory_position(self, state: Mapping[str, Any]) -> float | None:
        """The inventory position on hand + pipeline - backlog (units), or None when a term is malformed."""
        terms = self._ip_terms(state)
        return None if terms is None else terms[0] + sum(terms[1]) - terms[2]

    def _check_inventory_position(self, state: Mapping[str, Any], label: str) -> None:
        """Refuse an inventory position that contradicts on hand + pipeline - backlog."""
        given = _numbers(state.get("inventory_position"))
        terms = self._ip_terms(state)
        if "inventory_position" not in state or given is None or terms is None:
            return  # absent (derived), or a malformed value the ObsSpec reports by field
        on_hand, pipeline, backlog = terms
        expected = on_hand + sum(pipeline) - backlog
        if len(given) == 1 and abs(given[0] - expected) > IP_TOLERANCE:
            shown_pipe = "[" + ", ".join(f"{p:g}" for p in pipeline) + "]"
            raise PolicyError(
                f"{label}: inventory_position (={given[0]:g}) contradicts on_hand + pipeline - backlog = "
                f"{on_hand:g} + {sum(pipeline):g} (pipeline {shown_pipe}) - {backlog:g} = {expected:g}; "
                f"give {expected:g}, or leave inventory_position out to have it derived"
            )

    def vector(self, state: Mapping[str, Any], label: str = "state") -> np.ndarray:
        """The observation vector of one state; PolicyError names the field that is wrong."""
        if not isinstance(state, Mapping):
            raise PolicyError(f"{label}: expected an object of named fields, got {type(state).__name__}")
        self._check_names(state, label)
        self._check_inventory_position(state, label)
        fields = {k: v for k, v in state.items() if k not in PASS_THROUGH}
        if "inventory_position" not in fields:
            derived = self._derived_inventory_position(fields)
            if derived is not None:
                fields["inventory_position"] = derived
        try:
            return self.obs_spec.vector(fields)
        except PolicyError as exc:
            raise PolicyError(f"{label}: {exc}" if label != "state" else str(exc)) from None

    def observations(self, states: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Observation vectors (one row per state); PolicyError names the bad field and state index."""
        label = "states[{}]" if len(states) > 1 else "state"
        rows = [self.vector(s, label.format(i)) for i, s in enumerate(states)]
        return np.vstack(rows) if rows else np.empty((0, self.obs_spec.size), dtype=np.float32)
