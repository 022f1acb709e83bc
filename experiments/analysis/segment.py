"""SKU segmentation for reports and ``stocklab segment``: plots and summaries of the segment table.

The classification itself lives in the envs layer, so that a catalogue's ``select: {segment: ...}``
can use it: Syntetos-Boylan classes in :mod:`stocklab.envs.sales.segment`, the feature table and
K-means clusters in :mod:`stocklab.envs.catalogue.segments` (their docstrings give the formulas).
They are re-exported here under their old names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stocklab.envs.catalogue.segments import CLUSTER_FEATURES, segment, sku_features
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
    "check_classes",
    "demand_class",
    "plot_segments",
    "segment",
    "select_skus",
    "sku_features",
    "summary",
]


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
