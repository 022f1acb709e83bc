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
* a cluster on the standardized features log10(1 + mean), CV, seasonal strength and trend strength
  (the mean enters as a logarithm because it spans orders of magnitude across SKUs and would
  otherwise decide the clusters alone), by one of three methods (:func:`cluster`):

  - ``kmeans``: K-means with k clusters (Lloyd's algorithm, scikit-learn, ``n_init=10``);
  - ``hierarchical``: agglomerative clustering with Ward's linkage (Ward 1963, J. Am. Stat. Assoc.
    58:236; scipy), the tree cut into k clusters; its dendrogram is drawn by
    :func:`plot_dendrogram`;
  - ``dbscan``: density-based clusters (Ester, Kriegel, Sander & Xu 1996, KDD-96): points with at
    least ``min_samples`` neighbours within ``eps`` are cores, clusters are the connected cores and
    their neighbours, the rest is noise (cluster -1). The default ``eps`` is the knee of the sorted
    distances to the ``min_samples``-th nearest neighbour (the paper's k-distance plot), found as the
    point farthest below the chord of the normalised curve (Satopaa et al. 2011, "Kneedle"); k is
    not used.

  Clusters are numbered 0, 1, ... by increasing mean demand. Each clustering is scored by its
  silhouette s = mean over points of (b - a) / max(a, b), a the mean distance to the point's own
  cluster and b to the nearest other one (Rousseeuw 1987, J. Comput. Appl. Math. 20:53; in [-1, 1],
  higher is better separated; DBSCAN's noise points are left out; None with fewer than 2 clusters).

:func:`select_skus` picks SKUs of given classes / clusters, e.g. to run an experiment on lumpy items.
The classes and features live in the envs layer (a catalogue's ``select: {segment: ...}`` uses them:
:mod:`stocklab.envs.sales.segment`, :mod:`stocklab.envs.catalogue.segments`); this module adds the
clustering methods, the plots and the summaries, and re-exports them under their old names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stocklab.envs.catalogue.segments import CLUSTER_FEATURES, sku_features
from stocklab.envs.core.errors import ConfigError, did_you_mean
from stocklab.envs.core.storage import atomic_path
from stocklab.envs.forecast.stats import quiet_single_thread
from stocklab.envs.sales.history import SalesHistory
from stocklab.envs.sales.segment import (
    ADI_CUTOFF,
    CLASSES,
    CV2_CUTOFF,
    check_classes,
    demand_class,
    select_skus,
)

__all__ = [
    "ADI_CUTOFF",
    "CLASSES",
    "CLUSTER_FEATURES",
    "CV2_CUTOFF",
    "METHODS",
    "check_classes",
    "cluster",
    "compare_methods",
    "demand_class",
    "plot_dendrogram",
    "plot_segments",
    "segment",
    "select_skus",
    "sku_features",
    "summary",
]

METHODS = ("kmeans", "dbscan", "hierarchical")


def segment(
    history: SalesHistory,
    k: int = 4,
    seed: int = 0,
    method: str = "kmeans",
    eps: float | None = None,
    min_samples: int = 5,
) -> pd.DataFrame:
    """One row per SKU: features, ``sb_class`` and ``cluster`` by ``method`` (module docstring).

    Clusters are numbered by increasing mean (-1: DBSCAN noise).
    """
    check_method(method)
    skus = history.skus()
    if method != "dbscan" and not 1 <= k <= len(skus):
        raise ConfigError(f"segment: k (={k}) must be between 1 and the number of SKUs ({len(skus)})")
    rows = []
    for sku in skus:
        feats = sku_features(history.series(sku).to_numpy(), history.season)
        rows.append({"sku": sku, **feats, "sb_class": demand_class(feats["adi"], feats["cv2"])})
    table = pd.DataFrame(rows)
    table["log_mean"] = np.log10(1.0 + table["mean"])
    labels = cluster(standardized(table), method, k, seed, eps, min_samples)
    table["cluster"] = rank_by_mean(labels, table["mean"].to_numpy(dtype=float))
    return table


def standardized(table: pd.DataFrame) -> np.ndarray:
    """The clustering features of every SKU, each centred and scaled to unit standard deviation."""
    x = table[list(CLUSTER_FEATURES)].to_numpy(dtype=float)
    std = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)


def check_method(method: str) -> None:
    """ConfigError for an unknown clustering method, with the allowed ones."""
    if method not in METHODS:
        raise ConfigError(
            f"segment: unknown method '{method}'.{did_you_mean(method, METHODS)} Allowed: {', '.join(METHODS)}"
        )


def default_eps(z: np.ndarray, min_samples: int) -> float:
    """The knee of the sorted k-distance curve, k = ``min_samples`` (module docstring)."""
    from scipy.spatial.distance import cdist

    dist = np.sort(cdist(z, z), axis=1)
    kth = np.sort(dist[:, min(min_samples, len(z) - 1)])
    span = kth[-1] - kth[0]
    if len(kth) < 3 or span <= 0:
        return float(max(kth[-1], 1e-9))
    x = np.linspace(0.0, 1.0, len(kth))
    knee = int(np.argmax(x - (kth - kth[0]) / span))
    return float(max(kth[knee], 1e-9))


def cluster(
    z: np.ndarray, method: str, k: int = 4, seed: int = 0, eps: float | None = None, min_samples: int = 5
) -> np.ndarray:
    """Cluster labels of the rows of ``z`` (standardized features) by ``method`` (module docstring)."""
    check_method(method)
    if method == "kmeans":
        from sklearn.cluster import KMeans

        with quiet_single_thread():  # OpenMP threads only contend on a few hundred points
            return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(z)
    if method == "hierarchical":
        from scipy.cluster.hierarchy import fcluster

        return fcluster(ward_tree(z), t=k, criterion="maxclust") - 1
    from sklearn.cluster import DBSCAN

    if eps is not None and not eps > 0:
        raise ConfigError(f"segment: eps (={eps}) must be > 0")
    if min_samples < 1:
        raise ConfigError(f"segment: min_samples (={min_samples}) must be >= 1")
    radius = default_eps(z, min_samples) if eps is None else float(eps)
    return DBSCAN(eps=radius, min_samples=min_samples).fit_predict(z)


def ward_tree(z: np.ndarray) -> np.ndarray:
    """The Ward linkage matrix of the rows of ``z`` (scipy's format)."""
    from scipy.cluster.hierarchy import linkage

    return linkage(z, method="ward")


def rank_by_mean(labels: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Relabel clusters 0, 1, ... by increasing mean demand; noise (-1) stays -1."""
    out = np.full(len(labels), -1, dtype=np.int64)
    found = [c for c in np.unique(labels) if c >= 0]
    order = sorted(found, key=lambda c: float(mean[labels == c].mean()))
    for i, c in enumerate(order):
        out[labels == c] = i
    return out


def silhouette(z: np.ndarray, labels: np.ndarray) -> float | None:
    """Mean silhouette of the clustered points (noise left out); None with fewer than 2 clusters."""
    from sklearn.metrics import silhouette_score

    keep = labels >= 0
    count = len(np.unique(labels[keep]))
    if count < 2 or count >= keep.sum():
        return None
    return float(silhouette_score(z[keep], labels[keep]))


def compare_methods(table: pd.DataFrame, k: int, seed: int = 0, min_samples: int = 5) -> dict[str, Any]:
    """Clusters and silhouette of every method on the SKU table's features."""
    z = standardized(table)
    out: dict[str, Any] = {}
    for method in METHODS:
        labels = cluster(z, method, k, seed, None, min_samples)
        out[method] = {
            "clusters": int(len(np.unique(labels[labels >= 0]))),
            "noise": int((labels < 0).sum()),
            "silhouette": silhouette(z, labels),
        }
    return out


def plot_segments(table: pd.DataFrame, path: Path, title: str = "", method: str = "kmeans") -> Path:
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
        name = "noise" if c < 0 else f"cluster {c}"
        right.scatter(part["cv"], part["seasonal_strength"], s=14, alpha=0.7, label=f"{name} ({len(part)})")
    right.set(xlabel="CV (std / mean)", ylabel="seasonal strength", title=f"{method} clusters")
    right.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def plot_dendrogram(table: pd.DataFrame, path: Path, k: int, title: str = "") -> Path:
    """The Ward dendrogram of the SKUs' standardized features, saved as a PNG at ``path``.

    It shows the last 40 merges and a dashed line where the tree is cut into ``k`` clusters.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.cluster.hierarchy import dendrogram

    tree = ward_tree(standardized(table))
    fig, ax = plt.subplots(figsize=(11, 4.5))
    dendrogram(tree, ax=ax, truncate_mode="lastp", p=min(40, len(table)), show_contracted=True,
               color_threshold=_cut_height(tree, k))  # fmt: skip
    if 1 < k <= len(table):
        ax.axhline(_cut_height(tree, k), color="grey", lw=0.8, ls="--", label=f"cut into {k} clusters")
        ax.legend(fontsize=8)
    ax.set(
        xlabel="SKUs (merged groups in brackets)", ylabel="Ward distance", title=title or "Ward dendrogram"
    )
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def _cut_height(tree: np.ndarray, k: int) -> float:
    """A height between the merges that leave k and k - 1 clusters."""
    heights = tree[:, 2]
    n = len(heights) + 1
    if not 1 < k <= n:
        return float(heights.max()) if len(heights) else 0.0
    upper = heights[n - k]
    lower = heights[n - k - 1] if n - k - 1 >= 0 else 0.0
    return float((upper + lower) / 2)


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
