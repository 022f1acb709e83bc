"""The interface every demand model implements, and the pmf helpers they share.

A demand model answers :meth:`DemandModel.sample`: the demand totals (whole units) of periods
``start .. start + n - 1``, drawn from the generator it is given (so demand never depends on the
policy's actions). It also states what it knows about the future: :meth:`DemandModel.expected` is the
true mean and standard deviation of each period's demand (what ``information: oracle_mean`` shows a
policy) and :meth:`DemandModel.forecast` a forecaster's view of them (``information: forecast``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from stocklab.envs.core.schema import StrictModel

if TYPE_CHECKING:
    from scipy import stats


class DiscreteLaw(Protocol):
    """A discrete distribution on 0, 1, 2, ...: a frozen scipy.stats law or anything with its two methods."""

    def ppf(self, q: float) -> Any:
        """The least k with P(D <= k) >= q."""

    def pmf(self, k: np.ndarray) -> Any:
        """P(D = k)."""


#: Default tail mass left out when a demand distribution is truncated into a finite pmf.
PMF_TOLERANCE = 1e-9


class DemandModel(StrictModel):
    """Interface of every demand model (one subclass per ``dist``)."""

    def sample(self, rng: np.random.Generator, start: int, n: int) -> np.ndarray:
        """Demand totals (units, int64) of periods ``start .. start + n - 1``."""
        raise NotImplementedError

    @property
    def mean(self) -> float:
        """Long-run mean demand per period (units)."""
        raise NotImplementedError

    @property
    def stationary(self) -> bool:
        """True when every period's demand has the same distribution (given by :meth:`pmf`)."""
        return False

    @property
    def horizon(self) -> int | None:
        """Number of periods the model can produce, or None for an endless stream."""
        return None

    def pmf(self, tol: float = PMF_TOLERANCE) -> np.ndarray | None:
        """Probabilities of 0, 1, ..., D units with the tail beyond D (mass <= tol) folded into D.

        None when the model is not a stationary discrete distribution.
        """
        return None

    def expected(self, start: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """True mean and standard deviation (units) of the demand of periods ``start .. start + n - 1``.

        What ``observation.information: oracle_mean`` shows a policy. The default serves stationary
        models from their pmf.
        """
        pmf = self.pmf()
        if pmf is None:
            raise NotImplementedError(f"{type(self).__name__} does not state its expected demand")
        mean, var = pmf_moments(pmf)
        return np.full(n, mean), np.full(n, np.sqrt(var))

    @property
    def provides_forecast(self) -> bool:
        """True when :meth:`forecast` gives a forecaster's view (``information: forecast`` allowed)."""
        return False

    def forecast(self, start: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """A forecaster's mean and standard deviation (units) of periods ``start .. start + n - 1``."""
        raise NotImplementedError(f"{type(self).__name__} has no forecaster")

    def demand_quantile(self, start: int, n: int, fractile: float) -> float | None:
        """The ``fractile``-quantile (units) of the total demand of periods ``start .. start + n - 1``.

        The periods are a lead time plus review period; None when the model does not state it.
        """
        return None


def truncated_pmf(dist: DiscreteLaw, tol: float) -> np.ndarray:
    """Pmf of a scipy discrete distribution on 0..D, the tail beyond D (mass <= tol) folded into D."""
    top = int(dist.ppf(1.0 - tol)) + 1
    pmf = dist.pmf(np.arange(top + 1))
    pmf[-1] += max(0.0, 1.0 - pmf.sum())
    return pmf / pmf.sum()


def rounded_pmf(dist: stats.rv_continuous, tol: float) -> np.ndarray:
    """Pmf of max(0, round(X)) for a continuous X: P(0) = F(0.5), P(k) = F(k + 0.5) - F(k - 0.5).

    The tail beyond D = ceil(F^-1(1 - tol)) is folded into D.
    """
    top = max(int(np.ceil(dist.ppf(1.0 - tol))), 1)
    cdf = dist.cdf(np.arange(top + 1) + 0.5)
    pmf = np.diff(cdf, prepend=0.0)
    pmf[-1] += max(0.0, 1.0 - cdf[-1])
    return pmf / pmf.sum()


def pmf_moments(pmf: np.ndarray) -> tuple[float, float]:
    """Mean and variance (units, units^2) of a pmf on 0, 1, 2, ..."""
    k = np.arange(len(pmf))
    mean = float(k @ pmf)
    return mean, float(((k - mean) ** 2) @ pmf)


def as_units(x: np.ndarray) -> np.ndarray:
    """Continuous demand draws as whole units: rounded to the nearest integer, negatives set to 0."""
    return np.maximum(np.rint(x), 0.0).astype(np.int64)
