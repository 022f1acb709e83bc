"""Exploration and step-size schedules of the tabular agents.

* Exploration rate epsilon_t (probability of a uniformly random allowed action at step t): constant,
  linear or exponential decay from ``start`` to the floor ``end`` over ``decay_steps`` env steps.
* Step size alpha_n = 1 / n^omega for the n-th update of one state-action pair, omega in (0.5, 1]:
  the Robbins-Monro conditions (sum alpha = inf, sum alpha^2 < inf) hold exactly for omega in (0.5, 1];
  omega < 1 forgets the early, biased targets faster (Even-Dar & Mansour 2003, "Learning rates for
  Q-learning", JMLR 5, show polynomial convergence for omega in (0.5, 1) and exponential in 1/(1-gamma)
  for omega = 1).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, PositiveInt, model_validator

from stocklab.envs.core.schema import StrictModel

#: Step sizes alpha_n for n < ALPHA_TABLE_SIZE are looked up instead of computed (a pow per update).
ALPHA_TABLE_SIZE = 1 << 16


class EpsilonSchedule(StrictModel):
    """Exploration rate epsilon_t (probability, per step) as a function of the env step t.

    ``linear``: start + (end - start) * min(1, t / decay_steps).
    ``exponential``: start * (end / start)^min(1, t / decay_steps) (geometric decay to the floor).
    ``constant``: start.
    ``decay_steps`` defaults to ``decay_fraction`` x the step budget of the first ``learn()`` call.
    """

    schedule: Literal["linear", "exponential", "constant"] = "exponential"
    start: float = Field(default=1.0, ge=0.0, le=1.0)
    end: float = Field(default=0.01, ge=0.0, le=1.0)
    decay_steps: PositiveInt | None = None
    decay_fraction: float = Field(default=0.6, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _check(self) -> EpsilonSchedule:
        if self.end > self.start:
            raise ValueError(f"end (={self.end}) must be <= start (={self.start})")
        if self.schedule == "exponential" and self.end == 0.0:
            raise ValueError("end must be > 0 for an exponential schedule (use 'linear' to reach 0)")
        return self

    def resolved(self, total_steps: int) -> EpsilonSchedule:
        """This schedule with ``decay_steps`` fixed (from ``decay_fraction`` x ``total_steps``) if unset."""
        if self.decay_steps is not None:
            return self
        steps = max(1, int(self.decay_fraction * total_steps))
        return self.model_copy(update={"decay_steps": steps})

    def value(self, step: int) -> float:
        """Epsilon at env step ``step`` (call :meth:`resolved` first)."""
        if self.schedule == "constant" or self.decay_steps is None:
            return self.start
        frac = min(1.0, step / self.decay_steps)
        if self.schedule == "linear":
            return self.start + (self.end - self.start) * frac
        if self.start == 0.0:
            return 0.0
        return self.start * (self.end / self.start) ** frac


def alpha_table(omega: float, size: int = ALPHA_TABLE_SIZE) -> list[float]:
    """[alpha_0, ..., alpha_{size-1}] with alpha_n = n^-omega (alpha_0 unused, set to 1)."""
    if not 0.5 < omega <= 1.0:
        raise ValueError(f"omega (={omega}) must be in (0.5, 1]")
    return [1.0] + [math.pow(n, -omega) for n in range(1, size)]
