"""SKU segmentation: demand-pattern classes (Syntetos-Boylan) and K-means clusters of a sales history.

Per SKU, over its whole series y_1 .. y_n (units per period):

* ADI, the average inter-demand interval = n / (number of periods with y_t > 0) (periods);
* CV^2, the squared coefficient of variation of the non-zero demand sizes (population variance);
* the Syntetos-Boylan class (Syntetos, Boylan & Croston 2005, J. Oper. Res. Soc. 56:495), with the
  cut-offs ADI = 1.32 and CV^2 = 0.49: smooth (ADI < 1.32, CV^2 < 0.49), erratic (ADI < 1.32,
  CV^2 >= 0.49), intermittent (ADI >= 1.32, CV^2 < 0.49), lumpy (ADI >= 1.32, CV^2 >= 0.49);
  ``no_demand`` when every period is 0;
* mean, CV = std / mean of all periods, and the STL strengths of trend and seasonality
  (:func:`stocklab.envs.forecast.stats.stl_strengths`);
* a K-means cluster (scikit-learn, ``n_init=10``) on the standardized features log10(1 + mean), CV,
  seasonal strength and trend strength; the mean enters as a logarithm because it spans orders of
  magnitude across SKUs and would otherwise decide the clusters alone. Clusters are numbered by
  increasing mean.

:func:`select_skus` picks SKUs of given classes / clusters, e.g. to run an experiment on lumpy items.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stocklab.envs.core.errors import ConfigError, did_you_mean
from stocklab.envs.forecast.stats import quiet_single_thread, stl_strengths
from stocklab.envs.sales.history import SalesHistory

ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49
CLASSES = ("smooth", "erratic", "intermittent", "lumpy", "no_demand")
#: Columns K-means clusters on (after standardizing each).
CLUSTER_FEATURES = ("log_mean", "cv", "seasonal_strength", "trend_strength")


def demand_class(adi: float, cv2: float) -> str:
    """Syntetos-Boylan class of a demand pattern (module docstring)."""
    if not np.isfinite(adi):
        return "no_demand"
    if adi < ADI_CUTOFF:
        return "smooth" if cv2 < CV2_CUTOFF else "erratic"
    return "intermittent" if cv2 < CV2_CUTOFF else "lumpy"


def sku_features(y: np.ndarray, season: int) -> dict[str, float]:
    """Demand-pattern features of one series (module docstring); quantities in units per period."""
    y = np.asarray(y, dtype=float)
    sizes = y[y > 0]
    adi = len(y) / len(sizes) if len(sizes) else float("inf")
    cv2 = float(np.var(sizes) / np.mean(sizes) ** 2) if len(sizes) else 0.0
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


def segment(history: SalesHistory, k: int = 4, seed: int = 0) -> pd.DataFrame:
    """One row per SKU: features, ``sb_class`` and K-means ``cluster`` (0 .. k-1 by increasing mean)."""
    from sklearn.cluster import KMeans

    skus = history.skus()
    if not 1 <= k <= len(skus):
        raise ConfigError(f"segment: k (={k}) must be between 1 and the number of SKUs ({len(skus)})")
    rows = []
    for sku in skus:
        feats = sku_features(history.series(sku).to_numpy(), history.season)
        rows.append({"sku": sku, **feats, "sb_class": demand_class(feats["adi"], feats["cv2"])})
    table = pd.DataFrame(rows)
    table["log_mean"] = np.log10(1.0 + table["mean"])
    x = table[list(CLUSTER_FEATURES)].to_numpy(dtype=float)
    std = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    with quiet_single_thread():  # OpenMP threads only contend on a few hundred points
        labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(z)
    order = table.groupby(labels)["mean"].mean().sort_values().index
    rank = {label: i for i, label in enumerate(order)}
    table["cluster"] = [rank[label] for label in labels]
    return table


def check_classes(classes: list[str]) -> None:
    """ConfigError for a name that is not a demand class, with the closest one suggested."""
    for name in classes:
        if name not in CLASSES:
            raise ConfigError(
                f"segment: unknown class '{name}'.{did_you_mean(name, CLASSES)} Allowed: {', '.join(CLASSES)}"
            )


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


def plot_segments(table: pd.DataFrame, path: Path, title: str = "") -> Path:
    """Scatter plots of the segments, saved as a PNG at ``path``.

    ADI vs CV^2 coloured by class with the cut-offs, and CV vs seasonal strength coloured by cluster.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    finite = table[np.isfinite(table["adi"])]
    for name in CLASSES[:4]:
        part = finite[finite["sb_class"] == name]
        left.scatter(part["adi"], part["cv2"], s=14, alpha=0.7, label=f"{name} ({len(part)})")
    top = float(finite["adi"].max()) if len(finite) else ADI_CUTOFF
    left.set_xlim(0.9, max(1.6, 1.05 * top))
    left.axvline(ADI_CUTOFF, color="grey", lw=0.8, ls="--")
    left.axhline(CV2_CUTOFF, color="grey", lw=0.8, ls="--")
    left.set(
        xlabel="ADI (periods between demands)", ylabel="CV² of demand sizes", title="Syntetos-Boylan classes"
    )
    left.legend(fontsize=8)
    for c in sorted(table["cluster"].unique()):
        part = table[table["cluster"] == c]
        right.scatter(
            part["cv"], part["seasonal_strength"], s=14, alpha=0.7, label=f"cluster {c} ({len(part)})"
        )
    right.set(xlabel="CV (std / mean)", ylabel="seasonal strength", title="K-means clusters")
    right.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def summary(table: pd.DataFrame) -> dict[str, Any]:
    """Counts of SKUs by class and by cluster, and each cluster's mean features."""
    by_cluster = table.groupby("cluster")[["mean", "cv", "seasonal_strength", "trend_strength"]].mean()
    return {
        "skus": len(table),
        "classes": {
            c: int((table["sb_class"] == c).sum()) for c in CLASSES if (table["sb_class"] == c).any()
        },
        "clusters": {
            int(c): {"skus": int((table["cluster"] == c).sum()), **{k: float(v) for k, v in row.items()}}
            for c, row in by_cluster.iterrows()
        },
    }
