"""Lead-time models: how many periods pass between placing an order and its arrival.

``env.lead_time`` is an integer (a fixed lead time in periods) or a distribution selected by ``dist``.
Integer-valued models keep every arrival on a period boundary; ``gamma`` and ``lognormal`` give
fractional lead times, so stock becomes usable mid-period, at that instant. ``in_sequence: true``
makes orders arrive in the order they were placed (an order never overtakes an earlier one).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Literal

import numpy as np
from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, model_validator

from stocklab.envs.core.schema import StrictModel

if TYPE_CHECKING:
    from scipy import stats

#: Quantile used as the upper end of an unbounded lead-time distribution when sizing the
#: pipeline observation; later arrivals are counted in the last pipeline slot.
UPPER_QUANTILE = 0.9999


class LeadTimeModel(StrictModel):
    """Interface of every lead-time model (periods, >= 0)."""

    in_sequence: bool = False

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` lead times in periods (float64)."""
        raise NotImplementedError

    @property
    def integer(self) -> bool:
        """True when every lead time is a whole number of periods."""
        return True

    @property
    def mean(self) -> float:
        """Mean lead time (periods)."""
        raise NotImplementedError

    @property
    def upper(self) -> float:
        """Largest lead time (periods), or a high quantile for an unbounded distribution."""
        raise NotImplementedError

    @property
    def fixed(self) -> int | None:
        """The lead time when it is deterministic, else None."""
        return None


class FixedLeadTime(LeadTimeModel):
    """A deterministic lead time of ``value`` whole periods (0: the order serves this period's demand)."""

    dist: Literal["fixed"] = "fixed"
    value: NonNegativeInt

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Return ``n`` copies of the fixed lead time (periods)."""
        return np.full(n, float(self.value))

    @property
    def mean(self) -> float:
        """The fixed lead time (periods)."""
        return float(self.value)

    @property
    def upper(self) -> float:
        """The fixed lead time (periods)."""
        return float(self.value)

    @property
    def fixed(self) -> int | None:
        """The fixed lead time (whole periods)."""
        return self.value


class DiscreteLeadTime(LeadTimeModel):
    """Lead time ``values[i]`` periods with probability ``probs[i]`` (values may be fractional)."""

    dist: Literal["discrete"]
    values: list[NonNegativeFloat] = Field(min_length=1)
    probs: list[NonNegativeFloat] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> DiscreteLeadTime:
        if len(self.values) != len(self.probs):
            raise ValueError(f"values ({len(self.values)}) and probs ({len(self.probs)}) differ in length")
        if not math.isclose(sum(self.probs), 1.0, abs_tol=1e-6):
            raise ValueError(f"probs must sum to 1 (they sum to {sum(self.probs):g})")
        return self

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw ``n`` lead times (periods) from the discrete distribution."""
        p = np.asarray(self.probs) / sum(self.probs)
        return rng.choice(np.asarray(self.values, dtype=float), size=n, p=p)

    @property
    def integer(self) -> bool:
        """True when every listed value is a whole number of periods."""
        return all(float(v).is_integer() for v in self.values)

    @property
    def mean(self) -> float:
        """Probability-weighted mean of the values (periods)."""
        return float(np.dot(self.values, self.probs) / sum(self.probs))

    @property
    def upper(self) -> float:
        """Largest value with positive probability (periods)."""
        return float(max(v for v, p in zip(self.values, self.probs) if p > 0))


class PoissonLeadTime(LeadTimeModel):
    """Poisson-distributed lead time with ``mean`` periods (whole periods, may be 0)."""

    dist: Literal["poisson"]
    mean_: PositiveFloat = Field(alias="mean")
    model_config = StrictModel.model_config | {"populate_by_name": True}

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw ``n`` Poisson lead times (whole periods)."""
        return rng.poisson(self.mean_, size=n).astype(float)

    @property
    def mean(self) -> float:
        """The configured mean (periods)."""
        return float(self.mean_)

    @property
    def upper(self) -> float:
        """The 99.99% quantile of the Poisson distribution (periods), see ``UPPER_QUANTILE``."""
        from scipy import stats  # lazy: importing scipy.stats costs ~1 s of CLI start-up

        return float(stats.poisson(self.mean_).ppf(UPPER_QUANTILE))


class UniformLeadTime(LeadTimeModel):
    """Lead time uniform on the whole periods ``low, low + 1, ..., high``."""

    dist: Literal["uniform"]
    low: NonNegativeInt
    high: NonNegativeInt

    @model_validator(mode="after")
    def _check(self) -> UniformLeadTime:
        if self.high < self.low:
            raise ValueError(f"high (={self.high}) must be >= low (={self.low})")
        return self

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw ``n`` lead times uniformly from ``low .. high`` (whole periods)."""
        return rng.integers(self.low, self.high + 1, size=n).astype(float)

    @property
    def mean(self) -> float:
        """Midpoint (low + high) / 2 (periods)."""
        return (self.low + self.high) / 2.0

    @property
    def upper(self) -> float:
        """``high`` (periods)."""
        return float(self.high)


class _ContinuousLeadTime(LeadTimeModel):
    mean_: PositiveFloat = Field(alias="mean")
    cv: PositiveFloat = Field(description="coefficient of variation = std / mean")
    model_config = StrictModel.model_config | {"populate_by_name": True}

    @property
    def integer(self) -> bool:
        return False

    @property
    def mean(self) -> float:
        return float(self.mean_)

    def _frozen(self) -> stats.rv_continuous:
        raise NotImplementedError

    @property
    def upper(self) -> float:
        return float(self._frozen().ppf(UPPER_QUANTILE))


class GammaLeadTime(_ContinuousLeadTime):
    """Gamma lead time (fractional periods): shape k = 1 / cv^2, scale = mean * cv^2."""

    dist: Literal["gamma"]

    def _frozen(self) -> stats.rv_continuous:
        from scipy import stats  # lazy: importing scipy.stats costs ~1 s of CLI start-up

        return stats.gamma(1.0 / self.cv**2, scale=self.mean_ * self.cv**2)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw ``n`` gamma lead times (fractional periods)."""
        return rng.gamma(1.0 / self.cv**2, self.mean_ * self.cv**2, size=n)


class LognormalLeadTime(_ContinuousLeadTime):
    """Lognormal lead time (fractional periods): sigma^2 = ln(1 + cv^2), mu = ln(mean) - sigma^2 / 2."""

    dist: Literal["lognormal"]

    def _params(self) -> tuple[float, float]:
        s2 = math.log1p(self.cv**2)
        return math.log(self.mean_) - s2 / 2.0, math.sqrt(s2)

    def _frozen(self) -> stats.rv_continuous:
        from scipy import stats  # lazy: importing scipy.stats costs ~1 s of CLI start-up

        mu, sigma = self._params()
        return stats.lognorm(sigma, scale=math.exp(mu))

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw ``n`` lognormal lead times (fractional periods)."""
        mu, sigma = self._params()
        return rng.lognormal(mu, sigma, size=n)


LeadTimeSpec = Annotated[
    FixedLeadTime | DiscreteLeadTime | PoissonLeadTime | UniformLeadTime | GammaLeadTime | LognormalLeadTime,
    Field(discriminator="dist"),
]


def coerce_lead_time(value: object) -> object:
    """Let ``lead_time: 2`` stand for ``{dist: fixed, value: 2}``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return {"dist": "fixed", "value": value}
    return value
