"""Feature engineering for regression forecasters: lags, rolling statistics, calendar and promotions.

The row of period t describes what is known before y_t is observed, scaled by the series' local
level s_t = max(mean(y_{t-w} .. y_{t-1}), floor) with w = max(m, 4) (units per period), so that one
model can learn from series of any size (a global model) and a level it has not seen is no problem:

=========================  ====================================================================
feature                    value
=========================  ====================================================================
lag_k, k = 1 .. max(m, 4)  y_{t-k} / s_t
mean_3, mean_6             mean of the last 3 / 6 values / s_t
std_3, std_w               standard deviation of the last 3 / w values / s_t
min_w, max_w               smallest / largest of the last w values / s_t
slope_w                    least squares slope of the last w values / s_t (per period)
zero_share_w               share of periods with y = 0 among the last w (intermittency)
season_sin, season_cos     sin / cos of 2 pi (t mod m) / m (calendar position; 0 when m = 1)
position                   t mod m (the calendar position as a category for trees)
promo, promo_lag_1         promotion flag of period t and of period t - 1 (0 without flags)
=========================  ====================================================================

The target of a row is y_t / s_t; a forecast multiplies the model's output by s_t. Forecasts of
h periods are recursive: each forecast becomes the lag of the next period's row. Promotion flags of
future periods are known in advance (planned promotions) and are given with the series.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Smallest level a row is scaled by (units), so that all-zero windows stay finite.
LEVEL_FLOOR = 1e-3


def window(season: int) -> int:
    """Length w of the lag window for a season of m periods: max(m, 4)."""
    return max(season, 4)


def feature_names(season: int) -> list[str]:
    """Column names of :func:`rows`, in order."""
    w = window(season)
    return (
        [f"lag_{k}" for k in range(1, w + 1)]
        + ["mean_3", "mean_6", "std_3", f"std_{w}", f"min_{w}", f"max_{w}", f"slope_{w}", f"zero_share_{w}"]
        + ["season_sin", "season_cos", "position", "promo", "promo_lag_1"]
    )


def rows(
    path: np.ndarray, times: np.ndarray, season: int, promo: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows (len(times), features) for periods ``times`` of one series and their levels s_t.

    ``path`` holds the series (and, in a recursive forecast, the forecasts so far); every t in
    ``times`` must satisfy w <= t <= len(path). ``promo`` (0/1 per period, at least up to the last
    t) gives the promotion flags.
    """
    w = window(season)
    times = np.asarray(times, dtype=np.int64)
    lags = path[times[:, None] - np.arange(1, w + 1)[None, :]]  # (k, w): y_{t-1} .. y_{t-w}
    flags = np.zeros(len(times)) if promo is None else np.asarray(promo, dtype=float)[times]
    flags_lag = np.zeros(len(times)) if promo is None else np.asarray(promo, dtype=float)[times - 1]
    return from_lags(lags, times, season, flags, flags_lag)


def from_lags(
    lags: np.ndarray, times: np.ndarray, season: int, flags: np.ndarray, flags_lag: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows and levels from the last w values of each row.

    ``lags`` (k, w) holds them newest first; ``times`` are the periods t the rows predict, ``flags``
    and ``flags_lag`` the promotion flags of t and t - 1.
    """
    w = lags.shape[1]
    level = np.maximum(lags.mean(axis=1), LEVEL_FLOOR)
    scaled = lags / level[:, None]
    x = np.arange(w, dtype=float)[::-1]  # positions of y_{t-1} .. y_{t-w}, newest largest
    xc = x - x.mean()
    slope = (scaled * xc[None, :]).sum(axis=1) / float(xc @ xc)
    pos = times % season if season > 1 else np.zeros(len(times), dtype=np.int64)
    angle = 2.0 * np.pi * pos / season if season > 1 else np.zeros(len(times))
    features = np.column_stack(
        [
            scaled,
            scaled[:, :3].mean(axis=1),
            scaled[:, :6].mean(axis=1),
            scaled[:, :3].std(axis=1),
            scaled.std(axis=1),
            scaled.min(axis=1),
            scaled.max(axis=1),
            slope,
            (lags == 0).mean(axis=1),
            np.sin(angle) if season > 1 else np.zeros(len(times)),
            np.cos(angle) if season > 1 else np.zeros(len(times)),
            pos.astype(float),
            flags,
            flags_lag,
        ]
    )
    return features, level


def training_rows(
    ys: list[np.ndarray], season: int, promos: Sequence[np.ndarray | None] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Rows and scaled targets y_t / s_t of every period t >= w of every series (stacked)."""
    w = window(season)
    blocks, targets = [], []
    for i, y in enumerate(ys):
        if len(y) <= w:
            continue
        times = np.arange(w, len(y))
        x, level = rows(y, times, season, None if promos is None else promos[i])
        blocks.append(x)
        targets.append(y[times] / level)
    if not blocks:
        return np.empty((0, len(feature_names(season)))), np.empty(0)
    return np.vstack(blocks), np.concatenate(targets)


def target_levels(ys: list[np.ndarray], season: int) -> np.ndarray:
    """The levels s_t of the rows of :func:`training_rows`, in the same order."""
    w = window(season)
    out = []
    for y in ys:
        if len(y) <= w:
            continue
        lags = y[np.arange(w, len(y))[:, None] - np.arange(1, w + 1)[None, :]]
        out.append(np.maximum(lags.mean(axis=1), LEVEL_FLOOR))
    return np.concatenate(out) if out else np.empty(0)
