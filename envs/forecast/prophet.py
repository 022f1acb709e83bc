"""Prophet (Taylor & Letham 2018, Am. Stat. 72:37) as an optional forecaster.

Prophet fits y(t) = g(t) + s(t) + e_t: a piecewise-linear trend g with automatically placed change
points and a Fourier series s of the yearly cycle (``fourier_order`` terms), by maximum a
posteriori estimation in Stan. Its PyPI wheel ships the compiled Stan model and CmdStan, so nothing
is downloaded when it runs. It is an extra: ``pip install 'stocklab[prophet]'``; without it, asking
for ``prophet`` is a ConfigError saying so.

Periods are given Prophet as dates ``freq`` apart (monthly, month starts, by default; the dates only
place the yearly cycle, so any start works). Yearly seasonality is used when the season is 12
(monthly), 52 (weekly) or 4 (quarterly) and the series covers two cycles; weekly and daily cycles are
off. Prophet's simulated intervals are not drawn (they use numpy's global generator); spreads are the
root mean squared in-sample one-step error, for every horizon.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np

from stocklab.envs.core.errors import ConfigError
from stocklab.envs.forecast.base import Forecaster

#: Pandas frequency of the periods by season length.
FREQ = {12: "MS", 52: "W-MON", 4: "QS", 7: "D", 1: "MS"}


def _prophet() -> Any:
    # Prophet and CmdStanPy log every fit (and a missing optional plotting library) at INFO level.
    for name in ("cmdstanpy", "prophet", "prophet.plot"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from prophet import Prophet as _Model
    except ImportError:
        raise ConfigError(
            "forecaster 'prophet' needs the prophet package: pip install 'stocklab[prophet]'"
        ) from None
    logging.getLogger("cmdstanpy").disabled = True
    return _Model


class Prophet(Forecaster):
    """Prophet's trend + yearly Fourier seasonality (module docstring).

    ``changepoint_prior_scale`` sets how flexible the trend is; ``fourier_order`` the terms of the
    yearly cycle.
    """

    name = "prophet"
    min_length = 6

    def __init__(
        self, season: int = 1, changepoint_prior_scale: float = 0.05, fourier_order: int = 10
    ) -> None:
        super().__init__(season)
        if not changepoint_prior_scale > 0 or fourier_order < 1:
            raise ConfigError(
                f"prophet: changepoint_prior_scale (={changepoint_prior_scale}) must be > 0 and "
                f"fourier_order (={fourier_order}) >= 1"
            )
        self.changepoint_prior_scale = float(changepoint_prior_scale)
        self.fourier_order = int(fourier_order)
        self._model: Any = None
        self._cache: dict[int, Any] = {}

    @property
    def spec(self) -> str:
        """What was fitted."""
        return "Prophet (yearly)" if self._model is not None and self._yearly() else "Prophet"

    def _yearly(self) -> bool:
        return self.season in (4, 12, 52) and len(self.y) >= 2 * self.season

    def _dates(self, n: int) -> Any:
        import pandas as pd

        return pd.date_range("2000-01-01", periods=n, freq=FREQ.get(self.season, "MS"))

    def _fit(self, y: np.ndarray) -> np.ndarray:
        import pandas as pd

        model_cls = _prophet()
        self.y = y
        model = model_cls(
            growth="linear", yearly_seasonality=self.fourier_order if self._yearly() else False,
            weekly_seasonality=False, daily_seasonality=False,
            changepoint_prior_scale=self.changepoint_prior_scale, uncertainty_samples=0,
        )  # fmt: skip
        frame = pd.DataFrame({"ds": self._dates(len(y)), "y": y})
        with warnings.catch_warnings():  # Prophet uses pandas features pandas 3 deprecates
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            self._model = model.fit(frame)
        self._cache = {}
        return np.asarray(self._frame(0)["yhat"].to_numpy()[: len(y)], dtype=float)

    def _frame(self, h: int) -> Any:
        """Prophet's prediction frame over the history and ``h`` periods after it (cached)."""
        import pandas as pd

        if h not in self._cache:
            future = pd.DataFrame({"ds": self._dates(len(self.y) + h)})
            with warnings.catch_warnings():  # Prophet uses pandas features pandas 3 deprecates
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                self._cache[h] = self._model.predict(future)
        return self._cache[h]

    def predict(self, h: int) -> np.ndarray:
        """Point forecasts of the next ``h`` periods (units), floored at 0 for a non-negative series."""
        return self.floored(np.asarray(self._frame(h)["yhat"].to_numpy()[len(self.y) :], dtype=float))
