"""Demand models: how many units customers ask for in each period.

Every model answers one question through :meth:`DemandModel.sample`: the demand totals (whole units)
of periods ``start .. start + n - 1``. The simulator draws a period's total first and then spreads it
over the period as single-unit customers at uniform random instants; for Poisson demand that is
exactly a Poisson arrival process (given N arrivals in [t, t+1), their instants are i.i.d. uniform).

Models are pydantic sections of the ``env.demand`` config, selected by ``dist``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, PositiveFloat, PrivateAttr, ValidationInfo, field_validator, model_validator
from scipy import stats

from stocklab.envs.errors import DataError
from stocklab.envs.schema import StrictModel

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


class PoissonDemand(DemandModel):
    """Poisson demand with ``mean`` units per period (customers arrive as a Poisson process)."""

    dist: Literal["poisson"]
    mean_: PositiveFloat = Field(alias="mean")

    model_config = StrictModel.model_config | {"populate_by_name": True}

    def sample(self, rng: np.random.Generator, start: int, n: int) -> np.ndarray:
        return rng.poisson(self.mean_, size=n).astype(np.int64)

    @property
    def mean(self) -> float:
        return float(self.mean_)

    @property
    def stationary(self) -> bool:
        return True

    def pmf(self, tol: float = PMF_TOLERANCE) -> np.ndarray:
        return _truncated_pmf(stats.poisson(self.mean_), tol)


class NegativeBinomialDemand(DemandModel):
    """Negative binomial demand: ``mean`` units per period and ``dispersion`` = variance / mean > 1.

    With D = dispersion, numpy's parameters are p = 1 / D and n = mean / (D - 1), so that
    mean = n (1 - p) / p and variance = n (1 - p) / p^2 = D * mean.
    """

    dist: Literal["negative_binomial"]
    mean_: PositiveFloat = Field(alias="mean")
    dispersion: Annotated[float, Field(gt=1.0, description="variance / mean, > 1")]

    model_config = StrictModel.model_config | {"populate_by_name": True}

    def _params(self) -> tuple[float, float]:
        p = 1.0 / self.dispersion
        return self.mean_ / (self.dispersion - 1.0), p

    def sample(self, rng: np.random.Generator, start: int, n: int) -> np.ndarray:
        size, p = self._params()
        return rng.negative_binomial(size, p, size=n).astype(np.int64)

    @property
    def mean(self) -> float:
        return float(self.mean_)

    @property
    def stationary(self) -> bool:
        return True

    def pmf(self, tol: float = PMF_TOLERANCE) -> np.ndarray:
        size, p = self._params()
        return _truncated_pmf(stats.nbinom(size, p), tol)


class ReplayDemand(DemandModel):
    """Replay a recorded demand series: ``values`` inline, or column ``column`` of the CSV at ``path``.

    ``at_end: cycle`` starts the series again; ``at_end: stop`` ends the episode (``terminated``) after
    the last recorded period. A relative ``path`` is read relative to the config file's folder.
    """

    dist: Literal["replay"]
    values: list[Annotated[int, Field(ge=0)]] | None = None
    path: Path | None = None
    column: str = "quantity"
    at_end: Literal["cycle", "stop"] = "cycle"
    _series: np.ndarray = PrivateAttr()

    @field_validator("path")
    @classmethod
    def _resolve(cls, path: Path | None, info: ValidationInfo) -> Path | None:
        base = (info.context or {}).get("base_dir") if info.context else None
        if path is not None and not path.is_absolute() and base is not None:
            path = Path(base) / path
        return path

    @model_validator(mode="after")
    def _load(self) -> ReplayDemand:
        if (self.values is None) == (self.path is None):
            raise ValueError("replay demand needs exactly one of 'values' or 'path'")
        if self.path is not None:
            object.__setattr__(self, "values", load_series(self.path, self.column))
        if not self.values:
            raise ValueError("replay demand needs at least one value")
        self._series = np.asarray(self.values, dtype=np.int64)
        return self

    def sample(self, rng: np.random.Generator, start: int, n: int) -> np.ndarray:
        series = self._series
        idx = np.arange(start, start + n)
        if self.at_end == "stop":
            idx = np.minimum(idx, len(series) - 1)
        return series[idx % len(series)]

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def horizon(self) -> int | None:
        return len(self.values) if self.at_end == "stop" else None


def load_series(path: Path, column: str) -> list[int]:
    """Read one non-negative integer demand column from a CSV file; DataError names file, row, column."""
    import pandas as pd

    if not path.exists():
        raise DataError(f"{path}: demand file not found")
    try:
        frame = pd.read_csv(path)
    except Exception as exc:  # pandas raises several types for unreadable files
        raise DataError(f"{path}: cannot read as CSV ({exc})") from None
    if column not in frame.columns:
        raise DataError(f"{path}: no column '{column}' (columns: {', '.join(map(str, frame.columns))})")
    values = pd.to_numeric(frame[column], errors="coerce")
    for row, (raw, val) in enumerate(zip(frame[column], values), start=2):
        if val is None or math.isnan(val) or val < 0 or val != int(val):
            raise DataError(f"{path}: row {row}, column '{column}': {raw!r} is not a whole number >= 0")
    return [int(v) for v in values]


def _truncated_pmf(dist: stats.rv_discrete, tol: float) -> np.ndarray:
    top = int(dist.ppf(1.0 - tol)) + 1
    pmf = dist.pmf(np.arange(top + 1))
    pmf[-1] += max(0.0, 1.0 - pmf.sum())
    return pmf / pmf.sum()


DemandSpec = Annotated[
    PoissonDemand | NegativeBinomialDemand | ReplayDemand,
    Field(discriminator="dist"),
]
