"""Density-based and hierarchical clustering on well-separated synthetic clusters, silhouettes, the
dendrogram, and ``stocklab segment --method``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from stocklab.envs import ConfigError
from stocklab.experiments.analysis.segment import cluster, rank_by_mean, silhouette
from stocklab.experiments.cli.app import app


def blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three tight clusters of 40 points, far apart, and one far outlier (label -1)."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0, 0, 0], [10, 0, 0, 0], [0, 10, 0, 0]])
    z = np.vstack([c + rng.normal(0, 0.3, size=(40, 4)) for c in centres] + [np.array([[30.0, 30, 30, 30]])])
    return z, np.concatenate([np.repeat([0, 1, 2], 40), [-1]])


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """True when a and b split the points alike (labels may be renamed)."""
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_hierarchical_and_kmeans_recover_separated_clusters():
    z, truth = blobs()
    inliers = truth >= 0
    for method in ("hierarchical", "kmeans"):
        labels = cluster(z[inliers], method, k=3)
        assert same_partition(labels, truth[inliers]), method
        assert silhouette(z[inliers], labels) > 0.85


def test_dbscan_recovers_the_clusters_and_marks_the_outlier_as_noise():
    z, truth = blobs(1)
    labels = cluster(z, "dbscan", min_samples=5)
    assert labels[-1] == -1 and (labels[:-1] >= 0).all()
    assert same_partition(labels, truth)
    assert silhouette(z, labels) > 0.85  # the noise point is left out
    with pytest.raises(ConfigError, match="eps"):
        cluster(z, "dbscan", eps=-1.0)
    with pytest.raises(ConfigError, match="Did you mean 'dbscan'"):
        cluster(z, "dbscn")


def test_clusters_are_numbered_by_increasing_mean_and_noise_stays():
    labels = np.array([5, 5, 2, 2, -1, 9])
    mean = np.array([10.0, 12, 1, 3, 100, 50])
    np.testing.assert_array_equal(rank_by_mean(labels, mean), [1, 1, 0, 0, -1, 2])
    assert silhouette(np.zeros((3, 2)), np.array([0, 0, 0])) is None


@pytest.mark.parametrize("method", ["kmeans", "dbscan", "hierarchical"])
def test_segment_cli_methods(tmp_path, method):
    result = CliRunner().invoke(
        app,
        [
            "segment",
            "demo",
            "--method",
            method,
            "--k",
            "2",
            "--min-samples",
            "1",
            "--out",
            str(tmp_path),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["method"] == method and set(figures["methods"]) == {"kmeans", "dbscan", "hierarchical"}
    assert (tmp_path / "segments.png").exists()
    if method == "hierarchical":
        assert (tmp_path / "dendrogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = CliRunner().invoke(app, ["segment", "demo", "--method", "kmean", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "Did you mean 'kmeans'" in bad.output
