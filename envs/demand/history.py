"""Demand from recorded sales: replay a series, bootstrap new paths from it, or feed a forecaster.

* ``replay``: a demand series given inline (``values``) or as a CSV column.
* ``history``: one SKU of a sales history (``date, sku, quantity`` file or the ``m3`` / ``demo``
  named sources; see :mod:`stocklab.envs.sales.history`), its ``split`` window from ``start``, replayed
  as recorded (``mode: replay``) or resampled by a seasonal moving-block bootstrap
  (``mode: bootstrap``; Kuensch 1989, Ann. Statist. 17:1217): blocks of ``block`` consecutive
  periods are copied from the window, each block starting at a period of the same position in the
  season as the period it fills, so the calendar pattern survives.
* ``forecast_fed``: a forecaster is fitted on the SKU's history before ``start``; the demand of the
  episode's period t (0 = ``start``) is max(0, round(mu_t + e_t)) with mu_t the forecaster's point
  forecast t + 1 periods ahead of the fit and e_t a resampled in-sample one-step residual
  (``noise: residual``) or a normal draw with the one-step predictive standard deviation
  (``noise: predictive``). The forecaster is asked once for ``forecast_periods`` periods; later
  periods repeat the last seasonal cycle of that path, so a step costs an array lookup.

Quantities are multiplied by ``scale`` and rounded (e.g. ``scale: 0.01`` turns shipments of
thousands into an instance of tens of units).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import (
    Field,
    PositiveFloat,
    PositiveInt,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from stocklab.envs.core.errors import DataError
from stocklab.envs.core.schema import StrictModel
from stocklab.envs.demand.base import DemandModel, as_units
from stocklab.envs.sales.clean import CleaningOptions

if TYPE_CHECKING:
    from stocklab.envs.sales.history import SalesHistory


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
        """Demand of periods ``start .. start + n - 1`` read off the series (units); ``rng`` is unused."""
        return _replay(self._series, start, n, self.at_end)

    @property
    def mean(self) -> float:
        """Mean of the recorded series (units per period)."""
        return float(np.mean(self._series))

    @property
    def horizon(self) -> int | None:
        """Length of the series (periods) with ``at_end: stop``, else None (it cycles)."""
        return len(self._series) if self.at_end == "stop" else None

    def expected(self, start: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The replayed values themselves (units) with standard deviation 0: the future is known."""
        return _replay(self._series, start, n, self.at_end).astype(float), np.zeros(n)


def _replay(series: np.ndarray, start: int, n: int, at_end: str) -> np.ndarray:
    idx = np.arange(start, start + n)
    if at_end == "stop":
        idx = np.minimum(idx, len(series) - 1)
    return series[idx % len(series)]


def read_csv_file(path: Path, what: str) -> Any:
    """A CSV file as a pandas DataFrame; DataError naming the file when it is missing or unreadable."""
    import pandas as pd

    if not path.is_file():
        raise DataError(f"{path}: {what} file not found")
    try:
        return pd.read_csv(path)
    except Exception as exc:  # pandas raises several types for unreadable files
        raise DataError(f"{path}: cannot read as CSV ({exc})") from None


def load_series(path: Path, column: str) -> list[int]:
    """Read one non-negative integer demand column from a CSV file; DataError names file, row, column."""
    import pandas as pd

    frame = read_csv_file(path, "demand")
    if column not in frame.columns:
        raise DataError(f"{path}: no column '{column}' (columns: {', '.join(map(str, frame.columns))})")
    values = pd.to_numeric(frame[column], errors="coerce")
    for row, (raw, val) in enumerate(zip(frame[column], values), start=2):
        if val is None or math.isnan(val) or val < 0 or val != int(val):
            raise DataError(f"{path}: row {row}, column '{column}': {raw!r} is not a whole number >= 0")
    return [int(v) for v in values]


class SplitDates(StrictModel):
    """Date splits of a sales history: train before ``validation``, validation until ``test``."""

    validation: dt.date
    test: dt.date


class _FromHistory(DemandModel):
    """Shared fields of the models read from a sales history.

    Which history (``path``: a CSV/parquet file or ``m3`` / ``demo``), which SKU, how to clean and
    scale it, and its date splits (default: :mod:`stocklab.envs.sales.history`'s).
    """

    path: str
    sku: str
    scale: PositiveFloat = 1.0
    cleaning: CleaningOptions = Field(default_factory=CleaningOptions)
    splits: SplitDates | None = None

    @field_validator("path")
    @classmethod
    def _resolve(cls, path: str, info: ValidationInfo) -> str:
        from stocklab.envs.sales.history import NAMED_SOURCES

        base = (info.context or {}).get("base_dir") if info.context else None
        if path not in NAMED_SOURCES and not Path(path).is_absolute() and base is not None:
            return str(Path(base) / path)
        return path

    def _history(self) -> SalesHistory:
        from stocklab.envs.sales.history import load_history

        splits = None if self.splits is None else (str(self.splits.validation), str(self.splits.test))
        return load_history(self.path, self.cleaning, splits)

    def cleaning_changes(self) -> list[dict[str, Any]]:
        """What cleaning changed in this SKU's series (missing periods filled, returns netted, ...).

        One JSON-ready dict per change (sku, date, kind, before, after, note), so a run can list
        every repair made to the data it was run on.
        """
        report = self._history().report
        rows = [c for c in report.changes if str(c.sku) == str(self.sku)]
        return [
            {"sku": c.sku, "date": str(c.date.date()), "kind": c.kind, "before": c.before, "after": c.after,
             "note": c.note}
            for c in rows
        ]  # fmt: skip

    def _scaled(self, values: np.ndarray) -> np.ndarray:
        return np.rint(np.asarray(values, dtype=float) * self.scale).astype(np.int64)


class HistoryDemand(_FromHistory):
    """Replay or block-bootstrap one SKU of a sales history (module docstring).

    ``split`` picks the window (train, validation, test or all); ``start`` (a date inside it) its
    first replayed period. ``block`` is the bootstrap block length (default: the season, else
    ceil(n^(1/3)) for n periods). ``at_end`` applies to replay: ``cycle`` or ``stop``.
    """

    dist: Literal["history"]
    split: Literal["train", "validation", "test", "all"] = "all"
    start: dt.date | None = None
    mode: Literal["replay", "bootstrap"] = "replay"
    block: PositiveInt | None = None
    at_end: Literal["cycle", "stop"] = "cycle"
    _series: np.ndarray = PrivateAttr()
    _season: int = PrivateAttr(1)
    _block: int = PrivateAttr(1)

    @model_validator(mode="after")
    def _load(self) -> HistoryDemand:
        import pandas as pd

        history = self._history()
        window = history.series(self.sku, self.split)
        if self.start is not None:
            first = pd.Timestamp(self.start)
            if not window.index[0] <= first <= window.index[-1]:
                raise DataError(
                    f"start {self.start} is outside the {self.split} window of sku '{self.sku}' "
                    f"({window.index[0].date()} .. {window.index[-1].date()})"
                )
            window = window[window.index >= first]
        self._series = self._scaled(window.to_numpy())
        n = len(self._series)
        self._season = history.season if n >= 2 * history.season else 1
        self._block = self.block or (self._season if self._season > 1 else math.ceil(n ** (1 / 3)))
        # Every position in the season needs a block start: n - block + 1 >= m.
        if self.mode == "bootstrap" and self._block > n - self._season + 1:
            raise ValueError(
                f"block (={self._block}) is too long for the {n} periods of the window "
                f"(at most {n - self._season + 1} with a season of {self._season})"
            )
        return self

    @property
    def values(self) -> list[int]:
        """The replayed window (units per period)."""
        return self._series.tolist()

    @property
    def mean(self) -> float:
        """Mean of the window (units per period)."""
        return float(self._series.mean())

    @property
    def horizon(self) -> int | None:
        """Length of the window (periods) when replayed with ``at_end: stop``, else None."""
        return len(self._series) if self.mode == "replay" and self.at_end == "stop" else None

    def _block_starts(self, rng: np.random.Generator, blocks: np.ndarray) -> np.ndarray:
        """Random window positions where blocks ``blocks`` start.

        p = c + k m with c = (b * block) mod m, so that period p of the window sits where period
        b * block sits in the season.
        """
        m, length, n = self._season, self._block, len(self._series)
        residue = (blocks * length) % m
        count = (n - length - residue) // m + 1
        return residue + m * np.floor(rng.random(len(blocks)) * count).astype(np.int64)

    def sample(self, rng: np.random.Generator, start: int, n: int) -> np.ndarray:
        """Demand of periods ``start .. start + n - 1`` (units): the window replayed or block-bootstrapped."""
        if self.mode == "replay":
            return _replay(self._series, start, n, self.at_end)
        t = np.arange(start, start + n)
        block = t // self._block
        first = block[0]
        starts = self._block_starts(rng, np.arange(first, block[-1] + 1))
        # A block cut by the end of one sample() call continues from a fresh start in the next call.
        return self._series[starts[block - first] + t % self._block]

    def expected(self, start: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation (units) of each period's demand.

        Replay: the recorded values, std 0. Bootstrap: over the pool of window periods that can fill
        that period (same block offset, same position in the season).
        """
        if self.mode == "replay":
            return _replay(self._series, start, n, self.at_end).astype(float), np.zeros(n)
        m, length, size = self._season, self._block, len(self._series)
        t = np.arange(start, start + n)
        residue = ((t // length) * length) % m
        mean, std = np.empty(n), np.empty(n)
        for i, (c, r) in enumerate(zip(residue, t % length)):
            pool = self._series[np.arange(c, size - length + 1, m) + r]
            mean[i], std[i] = pool.mean(), pool.std()
        return mean, std


class ForecastFedDemand(_FromHistory):
    """Demand = a fitted forecaster's forecast + noise (module docstring).

    ``start``: the episode's first date; the forecaster sees the SKU's history before it (default:
    the period after the last recorded one). ``model`` / ``model_params``: a forecaster of
    :mod:`stocklab.envs.forecast.base`. ``noise``: ``residual`` or ``predictive``.
    """

    dist: Literal["forecast_fed"]
    start: dt.date | None = None
    model: str = "ets"
    model_params: dict[str, Any] = Field(default_factory=dict)
    noise: Literal["residual", "predictive"] = "residual"
    forecast_periods: Annotated[int, Field(ge=24)] = 240
    _fit: Any = PrivateAttr()
    _path: np.ndarray = PrivateAttr()
    _cycle: int = PrivateAttr(1)
    _residuals: np.ndarray = PrivateAttr()
    _sigma: float = PrivateAttr(0.0)

    @model_validator(mode="after")
    def _fit_model(self) -> ForecastFedDemand:
        import pandas as pd

        from stocklab.envs.forecast.base import fit_forecaster

        history = self._history()
        series = history.series(self.sku)
        if self.start is not None:
            first = pd.Timestamp(self.start)
            series = series[series.index < first]
        y = self._scaled(series.to_numpy()).astype(float)
        if len(y) < 4:
            raise DataError(f"sku '{self.sku}': only {len(y)} periods of history before start {self.start}")
        self._fit = fit_forecaster(self.model, y, history.season, **self.model_params)
        self._residuals = self._fit.residuals
        if self._residuals.size == 0:
            raise DataError(f"forecaster '{self.model}' left no in-sample residuals on sku '{self.sku}'")
        self._sigma = float(self._fit.predict_std(1)[0]) if self.noise == "predictive" else self._fit.sigma
        self._path = np.maximum(self._fit.predict(self.forecast_periods), 0.0)
        self._cycle = history.season if history.season < self.forecast_periods else 1
        return self

    def mean_at(self, start: int, n: int) -> np.ndarray:
        """Point forecasts mu_t (units; negatives set to 0) of periods start .. start + n - 1.

        The forecaster is asked for ``forecast_periods`` periods once; later periods repeat its last
        seasonal cycle, so that long episodes stay cheap and a trend does not run away.
        """
        t = np.arange(start, start + n)
        cap, m = self.forecast_periods, self._cycle
        return self._path[np.where(t < cap, t, cap - m + (t - cap) % m)]

    def sample(self, rng: np.random.Generator, start: int, n: int) -> np.ndarray:
        """Demand mu_t + noise of periods ``start .. start + n - 1``, rounded, negatives set to 0 (units)."""
        mu = self.mean_at(start, n)
        if self.noise == "residual":
            noise = self._residuals[rng.integers(0, len(self._residuals), size=n)]
        else:
            noise = rng.normal(0.0, self._sigma, size=n)
        return as_units(mu + noise)

    @property
    def mean(self) -> float:
        """Mean of the point forecasts over the first 12 periods (units per period)."""
        return float(self.expected(0, 12)[0].mean())

    def expected(self, start: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation (units) of max(0, round(mu_t + e)).

        Exact over the residual pool; for normal noise, those of the normal censored at 0 (rounding
        ignored).
        """
        from scipy import stats  # lazy: importing scipy.stats costs ~1 s of CLI start-up

        mu = self.mean_at(start, n)
        if self.noise == "residual":
            draws = np.maximum(np.rint(mu[:, None] + self._residuals[None, :]), 0.0)
            return draws.mean(axis=1), draws.std(axis=1)
        s = self._sigma
        if s <= 0:
            return mu.copy(), np.zeros(n)
        z = mu / s
        cdf, pdf = stats.norm.cdf(z), stats.norm.pdf(z)
        mean = mu * cdf + s * pdf
        second = (mu**2 + s**2) * cdf + mu * s * pdf
        return mean, np.sqrt(np.maximum(second - mean**2, 0.0))

    @property
    def provides_forecast(self) -> bool:
        """True: this model has a forecaster (``information: forecast`` allowed)."""
        return True

    def forecast(self, start: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The forecaster's point forecasts and its one-step error spread (the noise it adds)."""
        return self.mean_at(start, n), np.full(n, self._sigma)

    def demand_quantile(self, start: int, n: int, fractile: float) -> float:
        """The ``fractile``-quantile of sum_t max(0, round(mu_t + e_t)) over periods start .. start + n - 1.

        By the empirical residual bootstrap (:func:`~stocklab.envs.forecast.quantiles.bootstrap_quantile`,
        seeded, so the same for every call): e_t from the residual pool (``noise: residual``) or from
        a normal grid with the predictive spread (``noise: predictive``). Demand is generated exactly
        so, so this is the true lead-time demand quantile up to the simulation's precision.
        """
        from scipy import stats

        from stocklab.envs.forecast.quantiles import bootstrap_quantile

        if self.noise == "residual":
            pool = self._residuals
        else:
            pool = self._sigma * stats.norm.ppf((np.arange(2000) + 0.5) / 2000)
        return bootstrap_quantile(self.mean_at(start, n), pool, fractile)
