"""Non-stationary demand: a mean that moves with a seasonal profile, a trend and promotions.

The mean demand of period t (units) is

    mu_t = max(0, base + trend * t) * weekly[t mod 7] * yearly[y(t)] * prod(uplift of promotions at t)

with y(t) = floor(len(yearly) * (t mod P) / P) and P = ``periods_per_year`` (so 12 monthly factors
serve monthly periods with P = 12, weekly periods with P = 52 or daily ones with P = 365). The demand
of period t is a Poisson draw with mean mu_t, or a negative binomial one with variance
``dispersion`` * mu_t. Periods count from 0 at the start of the episode.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, model_validator

from stocklab.envs.core.schema import StrictModel
from stocklab.envs.demand.base import DemandModel

Factor = Annotated[float, Field(ge=0.0)]


class Promotion(StrictModel):
    """A promotion multiplying mean demand by ``uplift`` in periods ``start .. start + length - 1``.

    It repeats every ``every`` periods when given (e.g. every 52 weeks).
    """

    start: NonNegativeInt
    length: PositiveInt = 1
    uplift: PositiveFloat
    every: PositiveInt | None = None

    @model_validator(mode="after")
    def _fits(self) -> Promotion:
        if self.every is not None and self.length > self.every:
            raise ValueError(f"length (={self.length}) must be <= every (={self.every})")
        return self

    def active(self, t: np.ndarray) -> np.ndarray:
        """Boolean mask of the periods ``t`` in which the promotion runs."""
        since = t - self.start
        if self.every is not None:
            return (since >= 0) & (since % self.every < self.length)
        return (since >= 0) & (since < self.length)


class SeasonalDemand(DemandModel):
    """Poisson (or negative binomial) demand around a seasonal, trending, promoted mean (module doc)."""

    dist: Literal["seasonal"]
    base: NonNegativeFloat = Field(description="mean demand level at period 0 (units per period)")
    trend: float = Field(default=0.0, description="change of the level per period (units per period^2)")
    weekly: list[Factor] | None = Field(default=None, min_length=7, max_length=7)
    yearly: list[Factor] | None = Field(default=None, min_length=1)
    periods_per_year: PositiveInt | None = None
    promotions: list[Promotion] = Field(default_factory=list)
    noise: Literal["poisson", "negative_binomial"] = "poisson"
    dispersion: Annotated[float, Field(gt=1.0)] | None = None

    @model_validator(mode="after")
    def _check(self) -> SeasonalDemand:
        if self.noise == "negative_binomial" and self.dispersion is None:
            raise ValueError(
                "dispersion (variance / mean, > 1) is required when noise is 'negative_binomial'"
            )
        if self.noise == "poisson" and self.dispersion is not None:
            raise ValueError("dispersion is only used with noise 'negative_binomial'")
        if self.periods_per_year is not None and self.yearly is None:
            raise ValueError("periods_per_year needs a yearly profile")
        return self

    @property
    def _year(self) -> int:
        return self.periods_per_year or (len(self.yearly) if self.yearly else 1)

    def mean_at(self, t: np.ndarray) -> np.ndarray:
        """Mean demand mu_t (units) of the periods ``t`` (module docstring's formula)."""
        t = np.asarray(t, dtype=np.int64)
        mu = np.maximum(self.base + self.trend * t, 0.0)
        if self.weekly is not None:
            mu = mu * np.asarray(self.weekly)[t % 7]
        if self.yearly is not None:
            factors = np.asarray(self.yearly)
            year = self._year
            mu = mu * factors[(len(factors) * (t % year)) // year]
        for promo in self.promotions:
            mu = np.where(promo.active(t), mu * promo.uplift, mu)
        return mu

    def _var(self, mu: np.ndarray) -> np.ndarray:
        return mu * (self.dispersion if self.noise == "negative_binomial" else 1.0)

    def sample(self, rng: np.random.Generator, start: int, n: int) -> np.ndarray:
        """Demand of periods ``start .. start + n - 1`` (units): Poisson or negative binomial around mu_t."""
        mu = self.mean_at(np.arange(start, start + n))
        if self.noise == "poisson":
            return rng.poisson(mu).astype(np.int64)
        assert self.dispersion is not None  # required with negative_binomial noise (validated)
        d = float(self.dispersion)
        # numpy's negative binomial needs n > 0; periods with mean 0 have demand 0.
        draws = rng.negative_binomial(np.maximum(mu / (d - 1.0), 1e-300), 1.0 / d)
        return np.where(mu > 0, draws, 0).astype(np.int64)

    @property
    def cycle(self) -> int:
        """Periods after which the weekly and yearly profiles repeat together."""
        week = 7 if self.weekly is not None else 1
        return math.lcm(week, self._year)

    @property
    def mean(self) -> float:
        """Mean of mu_t over the first cycle of the profile (trend and promotions included)."""
        return float(self.mean_at(np.arange(self.cycle)).mean())

    def expected(self, start: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """True mean mu_t and standard deviation (units) of each period's demand."""
        mu = self.mean_at(np.arange(start, start + n))
        return mu, np.sqrt(self._var(mu))
