"""Stationary demand models: every period's demand is an independent draw from one distribution.

Each has an exact pmf, which the exact DP and the exact tuning formulas use. Continuous models (gamma,
normal) are turned into whole units by rounding to the nearest integer and setting negatives to 0;
their pmf is that of the rounded variable, so ``mean`` (the property) is the mean of the rounded
demand, a hair away from the configured ``mean`` of the continuous variable.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Literal

import numpy as np
from pydantic import Field, PositiveFloat, model_validator

from stocklab.envs.core.schema import StrictModel
from stocklab.envs.demand.base import (
    PMF_TOLERANCE,
    DemandModel,
    as_units,
    pmf_moments,
    rounded_pmf,
    truncated_pmf,
)

if TYPE_CHECKING:
    from scipy import stats


class _Stationary(DemandModel):
    """Shared plumbing: stationary, with ``mean`` the mean of the pmf."""

    model_config = StrictModel.model_config | {"populate_by_name": True}

    @property
    def stationary(self) -> bool:
        return True

    @property
    def mean(self) -> float:
        return pmf_moments(self.pmf())[0]

    def pmf(self, tol: float = PMF_TOLERANCE) -> np.ndarray:
        """Every stationary model has a pmf (each subclass gives it)."""
        raise NotImplementedError


class PoissonDemand(_Stationary):
    """Poisson demand with ``mean`` units per period (customers arrive as a Poisson process)."""

    dist: Literal["poisson"]
    mean_: PositiveFloat = Field(alias="mean")

    def sample(self, rng: np.random.Generator, start: int, n: int) -> np.ndarray:
        """Draw ``n`` Poisson demands (units); ``start`` is unused (stationary)."""
        return rng.poisson(self.mean_, size=n).astype(np.int64)

    @property
    def mean(self) -> float:
        """The configured mean (units per period)."""
        return float(self.mean_)

    def pmf(self, tol: float = PMF_TOLERANCE) -> np.ndarray:
        """Poisson pmf on 0..D, the tail beyond D (mass <= tol) folded into D."""
        return truncated_pmf(PoissonLaw(self.mean_), tol)


class PoissonLaw:
    """Poisson(mu)'s pmf and quantile in NumPy and the standard library, without scipy.

    ``stocklab validate`` sizes the DP from the demand pmf, and importing scipy.special alone costs a
    quarter of a second of start-up (scipy.stats several). The pmf is scipy.stats.poisson's formula,
    pmf(k) = exp(k log mu - log k! - mu) with log k! = lgamma(k + 1) (Abramowitz & Stegun 6.1), equal to
    scipy's to within an ulp; the quantile is the least k with P(D <= k) >= q, summed from the side of
    the distribution where the sum is accurate (a test compares both with scipy.stats.poisson).
    """

    #: The support is cut at mu + 12 sqrt(mu) + 40, where the tail mass is below 1e-30 (Chernoff).
    _SPREAD, _MARGIN = 12.0, 40

    def __init__(self, mu: float) -> None:
        self.mu = float(mu)

    def pmf(self, k: np.ndarray) -> np.ndarray:
        """P(D = k) for whole k >= 0."""
        k = np.asarray(k, dtype=float)
        log_factorial = np.asarray(np.frompyfunc(math.lgamma, 1, 1)(k + 1.0), dtype=float)
        return np.exp(k * math.log(self.mu) - log_factorial - self.mu)

    def ppf(self, q: float) -> float:
        """The least k (units) with P(D <= k) >= q, for 0 < q < 1."""
        top = int(self.mu + self._SPREAD * math.sqrt(self.mu)) + self._MARGIN
        pmf = self.pmf(np.arange(top + 1))
        if q <= 0.5:
            return float(np.searchsorted(np.cumsum(pmf), q, side="left"))
        # P(D > k) = sum of pmf[k+1:], summed from the far tail so that it stays exact near q = 1
        above = np.append(np.cumsum(pmf[::-1])[::-1][1:], 0.0)
        return float(np.argmax(above <= 1.0 - q))


class NegativeBinomialDemand(_Stationary):
    """Negative binomial demand: ``mean`` units per period and ``dispersion`` = variance / mean > 1.

    With D = dispersion, numpy's parameters are p = 1 / D and n = mean / (D - 1), so that
    mean = n (1 - p) / p and variance = n (1 - p) / p^2 = D * mean.
    """

    dist: Literal["negative_binomial"]
    mean_: PositiveFloat = Field(alias="mean")
    dispersion: Annotated[float, Field(gt=1.0, description="variance / mean, > 1")]

    def _params(self) -> tuple[float, float]:
        p = 1.0 / self.dispersion
        return self.mean_ / (self.dispersion - 1.0), p

    def sample(self, rng: np.random.Generator, start: int, n: int) -> np.ndarray:
        """Draw ``n`` negative binomial demands (units); ``start`` is unused (stationary)."""
        size, p = self._params()
        return rng.negative_binomial(size, p, size=n).astype(np.int64)

    @property
    def mean(self) -> float:
        """The configured mean (units per period)."""
        return float(self.mean_)

    def pmf(self, tol: float = PMF_TOLERANCE) -> np.ndarray:
        """Negative binomial pmf on 0..D, the tail beyond D (mass <= tol) folded into D."""
        from scipy import stats  # lazy: importing scipy.stats costs ~1 s of CLI start-up

        size, p = self._params()
        return truncated_pmf(stats.nbinom(size, p), tol)


class GammaDemand(_Stationary):
    """Gamma demand with ``mean`` and standard deviation ``std`` (units), rounded to whole units.

    Shape k = (mean / std)^2 and scale theta = std^2 / mean, so k theta = mean, k theta^2 = std^2.
    """

    dist: Literal["gamma"]
    mean_: PositiveFloat = Field(alias="mean")
    std: PositiveFloat

    def _dist(self) -> stats.rv_continuous:
        from scipy import stats  # lazy: importing scipy.stats costs ~1 s of CLI start-up

        return stats.gamma((self.mean_ / self.std) ** 2, scale=self.std**2 / self.mean_)

    def sample(self, rng: np.random.Generator, start: int, n: int) -> np.ndarray:
        """Draw ``n`` gamma demands rounded to whole units (negatives set to 0)."""
        return as_units(rng.gamma((self.mean_ / self.std) ** 2, self.std**2 / self.mean_, size=n))

    def pmf(self, tol: float = PMF_TOLERANCE) -> np.ndarray:
        """Pmf of the rounded gamma variable on 0..D, tail (mass <= tol) folded into D."""
        return rounded_pmf(self._dist(), tol)


class NormalDemand(_Stationary):
    """Normal demand N(``mean``, ``std``^2), rounded to whole units and truncated at 0 (max(0, round X))."""

    dist: Literal["normal"]
    mean_: PositiveFloat = Field(alias="mean")
    std: PositiveFloat

    def sample(self, rng: np.random.Generator, start: int, n: int) -> np.ndarray:
        """Draw ``n`` normal demands rounded to whole units, negatives set to 0."""
        return as_units(rng.normal(self.mean_, self.std, size=n))

    def pmf(self, tol: float = PMF_TOLERANCE) -> np.ndarray:
        """Pmf of max(0, round X) on 0..D, tail (mass <= tol) folded into D."""
        from scipy import stats  # lazy: importing scipy.stats costs ~1 s of CLI start-up

        return rounded_pmf(stats.norm(self.mean_, self.std), tol)


class EmpiricalDemand(_Stationary):
    """Demand takes ``values[i]`` (whole units) with probability ``probs[i]`` (summing to 1)."""

    dist: Literal["empirical"]
    values: list[Annotated[int, Field(ge=0)]] = Field(min_length=1)
    probs: list[Annotated[float, Field(ge=0.0)]]

    @model_validator(mode="after")
    def _check(self) -> EmpiricalDemand:
        if len(self.values) != len(self.probs):
            raise ValueError(
                f"values ({len(self.values)} entries) and probs ({len(self.probs)} entries) "
                "must have the same length"
            )
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"values must be distinct (got {self.values})")
        if abs(sum(self.probs) - 1.0) > 1e-6:
            raise ValueError(f"probs must sum to 1 (they sum to {sum(self.probs):.6g})")
        return self

    def sample(self, rng: np.random.Generator, start: int, n: int) -> np.ndarray:
        """Draw ``n`` demands from ``values`` with probabilities ``probs`` (units)."""
        p = np.asarray(self.probs) / sum(self.probs)
        return rng.choice(np.asarray(self.values, dtype=np.int64), size=n, p=p)

    def pmf(self, tol: float = PMF_TOLERANCE) -> np.ndarray:
        """Pmf on 0..max(values) (exact; ``tol`` unused)."""
        pmf = np.zeros(max(self.values) + 1)
        np.add.at(pmf, self.values, self.probs)
        return pmf / pmf.sum()


StationarySpec = Annotated[
    PoissonDemand | NegativeBinomialDemand | GammaDemand | NormalDemand | EmpiricalDemand,
    Field(discriminator="dist"),
]
"""One of the stationary distributions (used on its own or as the size of intermittent demand)."""


class IntermittentDemand(_Stationary):
    """Intermittent demand: a period has demand with probability ``occurrence``, its size drawn from ``size``.

    The size is any stationary model. D = B * S with B ~ Bernoulli(occurrence) and S ~ size,
    independent, so E[D] = p E[S] and Var[D] = p E[S^2] - p^2 E[S]^2 (Croston 1972's demand model).

    A size of 0 is possible when the size distribution allows it (Poisson does); use ``empirical``
    or a shifted size for strictly positive sizes.
    """

    dist: Literal["intermittent"]
    occurrence: Annotated[float, Field(gt=0.0, le=1.0, description="probability a period has demand")]
    size: StationarySpec

    def sample(self, rng: np.random.Generator, start: int, n: int) -> np.ndarray:
        """Draw ``n`` demands: a size draw where a Bernoulli(occurrence) fires, else 0 (units)."""
        occurs = rng.random(n) < self.occurrence
        sizes = self.size.sample(rng, start, n)
        return np.where(occurs, sizes, 0).astype(np.int64)

    def pmf(self, tol: float = PMF_TOLERANCE) -> np.ndarray:
        """Pmf of B * S: occurrence times the size pmf, plus 1 - occurrence at 0."""
        pmf = self.occurrence * self.size.pmf(tol)
        pmf[0] += 1.0 - self.occurrence
        return pmf
