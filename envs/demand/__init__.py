"""Demand models: how many units customers ask for in each period.

Every model answers one question through :meth:`DemandModel.sample`: the demand totals (whole units)
of periods ``start .. start + n - 1``. The simulator draws a period's total first and then spreads it
over the period as single-unit customers at uniform random instants; for Poisson demand that is
exactly a Poisson arrival process (given N arrivals in [t, t+1), their instants are i.i.d. uniform).

Models are pydantic sections of the ``env.demand`` config, selected by ``dist``:

==================  ==========================================================  ============================
dist                what                                                        module
==================  ==========================================================  ============================
poisson             Poisson(mean)                                               :mod:`.demand_stationary`
negative_binomial   mean, dispersion = variance / mean
gamma, normal       mean, std; rounded to whole units, negatives set to 0
empirical           values with probabilities
intermittent        occurrence probability x a stationary size distribution
seasonal            level x weekly / yearly profile, trend, promotion calendar  :mod:`.demand_nonstationary`
replay              a recorded series (inline or a CSV column)                  :mod:`.demand_history`
history             one SKU of a sales history, replayed or block-bootstrapped
forecast_fed        a fitted forecaster's forecast + resampled residuals
==================  ==========================================================  ============================

Besides ``sample``, a model states its true mean and spread per period (:meth:`DemandModel.expected`,
shown to policies by ``observation.information: oracle_mean``) and, for ``forecast_fed``, a
forecaster's view of them (:meth:`DemandModel.forecast`, ``information: forecast``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import numpy as np
from pydantic import Field

from stocklab.envs.demand.base import PMF_TOLERANCE, DemandModel, pmf_moments, rounded_pmf, truncated_pmf
from stocklab.envs.demand.history import (
    ForecastFedDemand,
    HistoryDemand,
    ReplayDemand,
    SplitDates,
    load_series,
)
from stocklab.envs.demand.nonstationary import Promotion, SeasonalDemand
from stocklab.envs.demand.stationary import (
    EmpiricalDemand,
    GammaDemand,
    IntermittentDemand,
    NegativeBinomialDemand,
    NormalDemand,
    PoissonDemand,
    StationarySpec,
)

DemandSpec = Annotated[
    PoissonDemand
    | NegativeBinomialDemand
    | GammaDemand
    | NormalDemand
    | EmpiricalDemand
    | IntermittentDemand
    | SeasonalDemand
    | ReplayDemand
    | HistoryDemand
    | ForecastFedDemand,
    Field(discriminator="dist"),
]
"""Any demand model, selected by its ``dist`` key (the ``env.demand`` section of a config)."""


def information_hook(model: DemandModel, information: str, horizon: int) -> Callable[[int], np.ndarray]:
    """A callable ``period t -> mean demand (units) of periods t .. t + horizon - 1``.

    The means are those ``information`` (``forecast`` or ``oracle_mean``) shows: the same numbers as
    the observation's ``forecast_mean``, for policies that take a forecast callable instead of reading
    the observation.
    """
    if information not in ("forecast", "oracle_mean"):
        raise ValueError(f"information (={information!r}) must be 'forecast' or 'oracle_mean'")
    source = model.forecast if information == "forecast" else model.expected
    return lambda t: source(t, horizon)[0]


__all__ = [
    "PMF_TOLERANCE",
    "DemandModel",
    "DemandSpec",
    "EmpiricalDemand",
    "ForecastFedDemand",
    "GammaDemand",
    "HistoryDemand",
    "IntermittentDemand",
    "NegativeBinomialDemand",
    "NormalDemand",
    "PoissonDemand",
    "Promotion",
    "ReplayDemand",
    "SeasonalDemand",
    "SplitDates",
    "StationarySpec",
    "information_hook",
    "load_series",
    "pmf_moments",
    "rounded_pmf",
    "truncated_pmf",
]
