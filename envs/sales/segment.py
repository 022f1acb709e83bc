"""Demand-pattern classes of SKUs (Syntetos-Boylan) and K-means clusters of a feature table.

Per SKU, over a series y_1 .. y_n (units per period):

* ADI, the average inter-demand interval = n / (number of periods with y_t > 0) (periods);
* CV^2, the squared coefficient of variation of the non-zero demand sizes (population variance);
* the Syntetos-Boylan class (Syntetos, Boylan & Croston 2005, J. Oper. Res. Soc. 56:495), with the
  cut-offs ADI = 1.32 and CV^2 = 0.49: smooth (ADI < 1.32, CV^2 < 0.49), erratic (ADI < 1.32,
  CV^2 >= 0.49), intermittent (ADI >= 1.32, CV^2 < 0.49), lumpy (ADI >= 1.32, CV^2 >= 0.49);
  ``no_demand`` when every period is 0.

:func:`cluster` runs K-means (scikit-learn, ``n_init=10``) on standardized feature columns and numbers
the clusters by increasing mean demand. The features that need a time-series decomposition (STL
strengths of trend and season) are computed one layer up, in :mod:`stocklab.envs.catalogue.segments`,
which also builds the full table of ``stocklab segment``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from stocklab.envs.core.errors import ConfigError, did_you_mean

ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49
CLASSES = ("smooth", "erratic", "intermittent", "lumpy", "no_demand")


def demand_class(adi: float, cv2: float) -> str:
    """Syntetos-Boylan class of a demand pattern (module docstring)."""
    if not np.isfinite(adi):
        return "no_demand"
    if adi < ADI_CUTOFF:
        return "smooth" if cv2 < CV2_CUTOFF else "erratic"
    return "intermittent" if cv2 < CV2_CUTOFF else "lumpy"


def intermittency(y: np.ndarray) -> tuple[float, float]:
    """ADI (periods; inf without demand) and CV^2 of the non-zero sizes of a series (module docstring)."""
    y = np.asarray(y, dtype=float)
    sizes = y[y > 0]
    if not len(sizes):
        return float("inf"), 0.0
    return len(y) / len(sizes), float(np.var(sizes) / np.mean(sizes) ** 2)


def pmf_intermittency(pmf: np.ndarray) -> tuple[float, float]:
    """ADI and CV^2 of a stationary demand distribution on 0, 1, 2, ... (the long-run values).

    ADI = 1 / P(D > 0); CV^2 = Var(D | D > 0) / E[D | D > 0]^2.
    """
    pmf = np.asarray(pmf, dtype=float)
    positive = float(pmf[1:].sum())
    if positive <= 0:
        return float("inf"), 0.0
    k = np.arange(1, len(pmf))
    cond = pmf[1:] / positive
    mean = float(k @ cond)
    var = float(((k - mean) ** 2) @ cond)
    return 1.0 / positive, var / mean**2


def classify(series: Sequence[np.ndarray]) -> list[str]:
    """The Syntetos-Boylan class of each series."""
    return [demand_class(*intermittency(y)) for y in series]


def check_classes(classes: list[str]) -> None:
    """ConfigError for a name that is not a demand class, with the closest one suggested."""
    for name in classes:
        if name not in CLASSES:
            raise ConfigError(
                f"segment: unknown class '{name}'.{did_you_mean(name, CLASSES)} Allowed: {', '.join(CLASSES)}"
            )


def cluster(table: pd.DataFrame, columns: Sequence[str], k: int, seed: int = 0) -> np.ndarray:
    """K-means cluster (0 .. k - 1, by increasing ``mean``) of every row, on standardized ``columns``."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    if not 1 <= k <= len(table):
        raise ConfigError(f"segment: k (={k}) must be between 1 and the number of SKUs ({len(table)})")
    x = table[list(columns)].to_numpy(dtype=float)
    std = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    # OpenMP threads only contend on a few hundred points; duplicate points make K-means warn
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(z)
    order = table.groupby(labels)["mean"].mean().sort_values().index
    rank = {label: i for i, label in enumerate(order)}
    return np.asarray([rank[label] for label in labels], dtype=np.int64)


def select_skus(
    table: pd.DataFrame, classes: list[str] | None = None, clusters: list[int] | None = None
) -> list[str]:
    """SKUs whose ``sb_class`` is in ``classes`` and whose ``cluster`` is in ``clusters`` (None: any)."""
    check_classes(classes or [])
    mask = np.ones(len(table), dtype=bool)
    if classes:
        mask &= table["sb_class"].isin(classes).to_numpy()
    if clusters:
        mask &= table["cluster"].isin(clusters).to_numpy()
    return table.loc[mask, "sku"].tolist()
