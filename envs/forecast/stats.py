"""Statistical forecasters (statsmodels): ETS and (seasonal) ARIMA, and STL strengths.

Exponential smoothing (ETS) and (seasonal) ARIMA are both chosen by AIC; the STL-based strengths
measure trend and seasonality.

statsmodels is imported when a model is fitted, not when this module is imported. Fits run with
BLAS limited to one thread: the matrices are tiny, and extra threads only contend for the cores.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from stocklab.envs.forecast.base import Forecaster


@functools.cache
def _threadpools() -> Any:
    from threadpoolctl import ThreadpoolController

    # Scanning the loaded libraries is the slow part of threadpoolctl, so it is done once.
    return ThreadpoolController()


@contextmanager
def quiet_single_thread() -> Iterator[None]:
    """Silence statsmodels' convergence chatter and keep BLAS / OpenMP on one thread while fitting."""
    with warnings.catch_warnings(), _threadpools().limit(limits=1):
        warnings.simplefilter("ignore")
        yield


def _stl(y: np.ndarray, m: int) -> Any:
    from statsmodels.tsa.seasonal import STL

    return STL(y, period=m).fit()


def seasonal_strength(y: np.ndarray, m: int) -> float:
    """Strength of seasonality F_S = max(0, 1 - Var(R) / Var(S + R)) of an STL decomposition.

    Wang, Smith & Hyndman 2006, Data Min. Knowl. Disc. 13:335. 0 when m < 2 or the series is shorter
    than two seasons.
    """
    y = np.asarray(y, dtype=float)
    if m < 2 or len(y) < 2 * m + 1 or np.ptp(y) == 0:
        return 0.0
    with quiet_single_thread():
        res = _stl(y, m)
    var = np.var(res.seasonal + res.resid)
    return float(max(0.0, 1.0 - np.var(res.resid) / var)) if var > 0 else 0.0


def stl_strengths(y: np.ndarray, m: int) -> tuple[float, float]:
    """Strengths of trend and seasonality (F_T, F_S), both in [0, 1], from one STL decomposition.

    F_T = max(0, 1 - Var(R) / Var(T + R)) and F_S = max(0, 1 - Var(R) / Var(S + R)) (Wang, Smith &
    Hyndman 2006, as :func:`seasonal_strength`).

    Series shorter than two seasons (or m < 2) get F_S = 0 and F_T from an STL with period 2; series
    shorter than 7 periods or constant get (0, 0).
    """
    y = np.asarray(y, dtype=float)
    if len(y) < 7 or np.ptp(y) == 0:
        return 0.0, 0.0
    seasonal = m >= 2 and len(y) >= 2 * m + 1
    with quiet_single_thread():
        res = _stl(y, m if seasonal else 2)
    resid = np.var(res.resid)

    def strength(component: np.ndarray) -> float:
        var = np.var(component + res.resid)
        return float(max(0.0, 1.0 - resid / var)) if var > 0 else 0.0

    return strength(res.trend), (strength(res.seasonal) if seasonal else 0.0)


class ETS(Forecaster):
    """Exponential smoothing in additive-error state-space form, chosen by AIC.

    Hyndman et al. 2008, *Forecasting with Exponential Smoothing*: the candidate with the lowest AIC
    among: (A,N,N) simple exponential
    smoothing, (A,Ad,N) damped trend, and with a season of ``season`` periods (A,N,A) and (A,Ad,A)
    Holt-Winters. Trends are damped so that long forecasts (an env's episode) stay bounded.
    Seasonal candidates need two full seasons plus two periods. Predictive standard deviations are
    the model's analytic h-step ones.
    """

    name = "ets_statsmodels"
    min_length = 4

    def __init__(self, season: int = 1, seasonal: bool = True, trend: bool = True) -> None:
        super().__init__(season)
        self.allow_seasonal = bool(seasonal)
        self.allow_trend = bool(trend)
        self.spec = ""
        self.aic = float("nan")

    def candidates(self, n: int) -> list[tuple[bool, bool]]:
        """(trend, seasonal) pairs tried on a series of n periods."""
        seasonal = [False]
        if self.allow_seasonal and self.season > 1 and n >= 2 * self.season + 2:
            seasonal.append(True)
        trend = [False, True] if self.allow_trend and n >= 8 else [False]
        return [(t, s) for s in seasonal for t in trend]

    def _fit(self, y: np.ndarray) -> np.ndarray:
        import pandas as pd
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        best = None
        endog = pd.Series(y)
        with quiet_single_thread():
            for trend, seasonal in self.candidates(len(y)):
                model = ETSModel(
                    endog, error="add", trend="add" if trend else None, damped_trend=trend,
                    seasonal="add" if seasonal else None, seasonal_periods=self.season if seasonal else None,
                )  # fmt: skip
                try:
                    res = model.fit(disp=False)
                except (ValueError, np.linalg.LinAlgError):
                    continue
                if np.isfinite(res.aic) and (best is None or res.aic < best[0].aic):
                    best = (res, f"A,{'Ad' if trend else 'N'},{'A' if seasonal else 'N'}")
        if best is None:
            raise ValueError("ets: no candidate model could be fitted")
        self._res, self.spec = best
        self.aic = float(self._res.aic)
        return np.asarray(self._res.fittedvalues, dtype=float)

    def _prediction(self, h: int) -> Any:
        n = len(self.y)
        with quiet_single_thread():
            return self._res.get_prediction(start=n, end=n + h - 1)

    def predict(self, h: int) -> np.ndarray:
        """Point forecasts of the next ``h`` periods (units)."""
        return np.asarray(self._prediction(h).predicted_mean, dtype=float)

    def predict_std(self, h: int) -> np.ndarray:
        """The model's analytic h-step predictive standard deviations (units)."""
        return np.sqrt(np.asarray(self._prediction(h).var_pred_mean, dtype=float))


class ARIMA(Forecaster):
    """Seasonal ARIMA(p,d,q)(P,D,Q)_m by a stepwise AIC search.

    After Hyndman & Khandakar (2008, J. Stat. Softw. 27(3)): d (0..2) by repeated KPSS tests at 5 %, D (0 or
    1) when the STL seasonal strength exceeds 0.64; then from the best of (2,2)(1,1), (0,0)(0,0), (1,0)(1,0),
    (0,1)(0,1) the search moves one order at a time (p, q <= ``max_pq``, P, Q <= 1) while the AIC improves,
    fitting at most ``max_fits`` models. A constant is included when d + D = 0 and a drift when d + D = 1.
    """

    name = "arima"
    min_length = 6

    def __init__(self, season: int = 1, max_pq: int = 2, max_fits: int = 12) -> None:
        super().__init__(season)
        self.max_pq = int(max_pq)
        self.max_fits = int(max_fits)
        self.order: tuple[int, int, int] = (0, 0, 0)
        self.seasonal_order: tuple[int, int, int, int] = (0, 0, 0, 0)
        self.aic = float("nan")

    def _diffs(self, y: np.ndarray) -> tuple[int, int]:
        from statsmodels.tsa.stattools import kpss

        m = self.season
        big_d = 1 if m > 1 and len(y) >= 3 * m and seasonal_strength(y, m) > 0.64 else 0
        x = y[m:] - y[:-m] if big_d else y
        d = 0
        while d < 2 and len(x) > 10 and np.ptp(x) > 0:
            stat, pvalue, *_ = kpss(x, regression="c", nlags="auto")
            if pvalue >= 0.05:
                break
            x = np.diff(x)
            d += 1
        return d, big_d

    def _fit(self, y: np.ndarray) -> np.ndarray:
        from statsmodels.tsa.arima.model import ARIMA as SmARIMA

        m = self.season
        with quiet_single_thread():
            d, big_d = self._diffs(y)
            seasonal = m > 1 and len(y) >= 2 * m + 4
            (p, q, sp, sq), start = self._search(y, d, big_d, seasonal)
            order, sorder = (p, d, q), ((sp, big_d, sq, m) if seasonal else (0, 0, 0, 0))
            trend = "c" if d + big_d == 0 else ("t" if d + big_d == 1 else "n")
            if trend == "t" and big_d:
                # A constant c of the seasonally differenced series is a slope c / m of the levels.
                start[0] /= m
            res = SmARIMA(y, order=order, seasonal_order=sorder, trend=trend).fit(start_params=start)
        self._res = res
        self.order, self.seasonal_order = order, sorder
        self.aic = float(res.aic)
        fitted = np.asarray(res.fittedvalues, dtype=float).copy()
        # The state-space filter's first predictions (diffuse start) are not forecasts.
        fitted[: d + big_d * m] = np.nan
        return fitted

    def _search(
        self, y: np.ndarray, d: int, big_d: int, seasonal: bool
    ) -> tuple[tuple[int, int, int, int], np.ndarray]:
        """Stepwise search of (p, q, P, Q) by AIC.

        Returns the best orders and its parameters (with the variance appended) as starting values of
        the final fit. Candidates are fitted on the
        differenced series (``simple_differencing``, concentrated scale): several times faster, and
        the AICs are comparable because every candidate shares d and D.
        """
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        m = self.season
        trend = "c" if d + big_d <= 1 else "n"
        aics: dict[tuple[int, int, int, int], float] = {}
        params: dict[tuple[int, int, int, int], np.ndarray] = {}

        def aic(key: tuple[int, int, int, int]) -> float:
            if key not in aics:
                if len(aics) >= self.max_fits:
                    return np.inf
                p, q, sp, sq = key
                sorder = (sp, big_d, sq, m) if seasonal else (0, 0, 0, 0)
                try:
                    res = SARIMAX(
                        y, order=(p, d, q), seasonal_order=sorder, trend=trend,
                        simple_differencing=True, concentrate_scale=True,
                    ).fit(disp=False)  # fmt: skip
                    aics[key] = float(res.aic) if np.isfinite(res.aic) else np.inf
                    params[key] = np.concatenate([res.params, [res.scale]])
                except (ValueError, np.linalg.LinAlgError, IndexError):
                    aics[key] = np.inf
            return aics[key]

        s_on = 1 if seasonal else 0
        top = self.max_pq
        starts = [(2, 2, s_on, s_on), (0, 0, 0, 0), (1, 0, s_on, 0), (0, 1, 0, s_on)]
        best = min(dict.fromkeys((min(p, top), min(q, top), sp, sq) for p, q, sp, sq in starts), key=aic)
        improved = True
        while improved and len(aics) < self.max_fits:
            improved = False
            for move in _MOVES:
                cand = _shift(best, move)
                cp, cq, csp, csq = cand
                if 0 <= cp <= top and 0 <= cq <= top and 0 <= csp <= s_on and 0 <= csq <= s_on:
                    if aic(cand) < aic(best):
                        best, improved = cand, True
                        break
        if not np.isfinite(aics[best]):
            raise ValueError("arima: no candidate model could be fitted")
        return best, params[best].copy()

    def _forecast(self, h: int) -> Any:
        with quiet_single_thread():
            return self._res.get_forecast(h)

    def predict(self, h: int) -> np.ndarray:
        """Point forecasts of the next ``h`` periods, floored at 0 for a non-negative series."""
        return self.floored(np.asarray(self._forecast(h).predicted_mean, dtype=float))

    def predict_std(self, h: int) -> np.ndarray:
        """The model's h-step standard errors of the forecast (units)."""
        return np.asarray(self._forecast(h).se_mean, dtype=float)


_Orders = tuple[int, int, int, int]


def _shift(orders: _Orders, move: _Orders) -> _Orders:
    """The orders (p, q, P, Q) moved by ``move``, element by element."""
    return (orders[0] + move[0], orders[1] + move[1], orders[2] + move[2], orders[3] + move[3])


#: One-step moves of the stepwise search on (p, q, P, Q).
_MOVES: list[_Orders] = [
    (1, 0, 0, 0), (-1, 0, 0, 0), (0, 1, 0, 0), (0, -1, 0, 0), (1, 1, 0, 0), (-1, -1, 0, 0),
    (0, 0, 1, 0), (0, 0, -1, 0), (0, 0, 0, 1), (0, 0, 0, -1),
]  # fmt: skip
