"""Quantiles of the demand over a lead time: what a base-stock level at the critical fractile needs.

An order placed now covers the demand of the next k = L + R periods (lead time L plus review period
R, R = 1 for periodic review every period; Zipkin 2000, *Foundations of Inventory Management*,
sec. 6.2). The order-up-to level at fractile f = p / (p + h) (shortage cost p, holding cost h) is
the f-quantile of D = y_{t+1} + ... + y_{t+k}. Two ways to get it from a forecaster:

* :func:`bootstrap_quantile` (empirical residual bootstrap): D = sum_j max(0, round(mu_j + e_j)),
  mu_j the point forecasts, e_j drawn with replacement from the one-step residuals; the f-quantile of
  ``draws`` simulated sums (a seeded generator). Exact for demand generated as forecast + i.i.d.
  residual (``forecast_fed`` demand); for real data it ignores how errors grow with the horizon.
* :func:`conformal_offsets` (split conformal prediction across series; Vovk, Gammerman & Shafer
  2005, *Algorithmic Learning in a Random World*; Stankeviciute et al. 2021 for multi-step series):
  errors D - D_hat of the k-period sums at calibration origins before the hold-out, each divided by
  its series' scale (the in-sample MAE of the seasonal naive forecast), are pooled over the series;
  the quantile level is then D_hat + scale x q, q the ceil((N + 1) f)-th smallest of the N pooled
  scaled errors. If the calibration and hold-out errors are exchangeable, P(D <= quantile) >= f.

:func:`pinball_loss` (the quantile score, Koenker & Bassett 1978) and the realised coverage
P(D <= quantile) score quantiles on a hold-out.
"""

from __future__ import annotations

import numpy as np

from stocklab.envs.core.errors import ConfigError

#: Simulated sums behind a bootstrap quantile.
DRAWS = 4000


def check_fractile(fractile: float) -> float:
    """``fractile`` as a float in (0, 1); ConfigError otherwise."""
    if not 0.0 < float(fractile) < 1.0:
        raise ConfigError(f"fractile (={fractile}) must be in (0, 1)")
    return float(fractile)


def bootstrap_quantile(
    means: np.ndarray, residuals: np.ndarray, fractile: float, draws: int = DRAWS, seed: int = 0
) -> float:
    """The ``fractile``-quantile of sum_j max(0, round(means_j + e_j)) (units; module docstring).

    e_j are drawn from ``residuals`` with replacement; deterministic for a given seed.
    """
    check_fractile(fractile)
    means = np.asarray(means, dtype=float)
    residuals = np.asarray(residuals, dtype=float)
    if residuals.size == 0:
        return float(np.maximum(np.rint(means), 0.0).sum())
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    picks = residuals[rng.integers(0, residuals.size, size=(draws, means.size))]
    sums = np.maximum(np.rint(means[None, :] + picks), 0.0).sum(axis=1)
    return float(np.quantile(sums, fractile, method="inverted_cdf"))


def conformal_rank_quantile(scores: np.ndarray, fractile: float) -> float:
    """The ceil((N + 1) f)-th smallest of N scores: the split conformal quantile (+inf past N)."""
    check_fractile(fractile)
    scores = np.sort(np.asarray(scores, dtype=float).ravel())
    rank = int(np.ceil((len(scores) + 1) * fractile))
    return float(scores[rank - 1]) if rank <= len(scores) else float("inf")


def conformal_offsets(
    actual: np.ndarray, forecast: np.ndarray, scales: np.ndarray, fractiles: tuple[float, ...]
) -> dict[float, float]:
    """Pooled scaled quantiles q_f of the calibration errors (actual - forecast) / scale.

    ``actual`` and ``forecast`` are k-period sums (any shape), ``scales`` broadcast against them.
    """
    scaled = (np.asarray(actual, dtype=float) - np.asarray(forecast, dtype=float)) / np.asarray(scales)
    scaled = scaled[np.isfinite(scaled)]
    if scaled.size == 0:
        raise ValueError("conformal: no finite calibration errors")
    return {f: conformal_rank_quantile(scaled, f) for f in fractiles}


def pinball_loss(actual: np.ndarray, quantile: np.ndarray, fractile: float) -> np.ndarray:
    """Quantile score rho_f(D - Q) = max(f (D - Q), (f - 1)(D - Q)), elementwise (units)."""
    diff = np.asarray(actual, dtype=float) - np.asarray(quantile, dtype=float)
    return np.maximum(fractile * diff, (fractile - 1.0) * diff)


def window_sums(y: np.ndarray, start: int, k: int) -> float:
    """y_{start} + ... + y_{start + k - 1} (0-based periods)."""
    return float(np.sum(y[start : start + k]))
