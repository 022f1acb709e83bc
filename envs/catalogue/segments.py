"""Segments of a sales history: Syntetos-Boylan classes and K-means clusters, one row per SKU.

Features per SKU (quantities in units per period): ADI, CV^2 and the class of
:mod:`stocklab.envs.sales.segment`; mean, CV = std / mean of all periods, the share of zero periods,
and the STL strengths of trend and seasonality (:func:`stocklab.envs.forecast.stats.stl_strengths`).
K-means clusters the standardized features log10(1 + mean), CV, seasonal strength and trend
strength; the mean enters as a logarithm because it spans orders of magnitude across SKUs and would
otherwise decide the clusters alone. Clusters are numbered by increasing mean.

This is what ``stocklab segment`` prints and what a catalogue's ``select: {segment: ...}`` uses (on
the train split, so that the test period does not choose its own SKUs).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stocklab.envs.forecast.stats import stl_strengths
from stocklab.envs.sales.history import SalesHistory
from stocklab.envs.sales.segment import cluster, demand_class, intermittency

#: Columns K-means clusters on (after standardizing each).
CLUSTER_FEATURES = ("log_mean", "cv", "seasonal_strength", "trend_strength")


def sku_features(y: np.ndarray, season: int) -> dict[str, float]:
    """Demand-pattern features of one series (module docstring); quantities in units per period."""
    y = np.asarray(y, dtype=float)
    adi, cv2 = intermittency(y)
    mean = float(np.mean(y))
    trend, seasonal = stl_strengths(y, season)
    return {
        "periods": float(len(y)),
        "mean": mean,
        "cv": float(np.std(y) / mean) if mean > 0 else 0.0,
        "adi": adi,
        "cv2": cv2,
        "zero_share": float(np.mean(y == 0)),
        "seasonal_strength": seasonal,
        "trend_strength": trend,
    }


def segment_series(series: dict[str, np.ndarray], season: int, k: int = 4, seed: int = 0) -> pd.DataFrame:
    """One row per series (``sku`` = its key): features, ``sb_class`` and K-means ``cluster``."""
    rows = []
    for sku, y in series.items():
        feats = sku_features(y, season)
        rows.append({"sku": sku, **feats, "sb_class": demand_class(feats["adi"], feats["cv2"])})
    table = pd.DataFrame(rows)
    table["log_mean"] = np.log10(1.0 + table["mean"])
    table["cluster"] = cluster(table, CLUSTER_FEATURES, k, seed)
    return table


def segment(history: SalesHistory, k: int = 4, seed: int = 0) -> pd.DataFrame:
    """One row per SKU of the whole history: features, ``sb_class`` and ``cluster`` (0 .. k-1 by mean)."""
    return segment_series(
        {sku: history.series(sku).to_numpy() for sku in history.skus()}, history.season, k, seed
    )
