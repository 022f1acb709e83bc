"""The synthetic catalogue: its demand classes match the Syntetos-Boylan classifier, it is
deterministic in its seed, and the sales-history loader reads it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stocklab.envs.core.errors import ConfigError
from stocklab.envs.sales.history import load_history
from stocklab.envs.sales.synth import CLASS_SHARES, synth_catalogue, write_catalogue


def sb_class(y: np.ndarray) -> str:
    """Syntetos-Boylan class over the SKU's life (first to last sale), computed here from scratch."""
    nz = np.flatnonzero(y)
    life = y[nz[0] : nz[-1] + 1]
    sizes = life[life > 0].astype(float)
    adi = len(life) / len(sizes)  # periods per demand
    cv2 = sizes.var() / sizes.mean() ** 2  # population variance of the non-zero sizes
    if adi < 1.32:
        return "smooth" if cv2 < 0.49 else "erratic"
    return "intermittent" if cv2 < 0.49 else "lumpy"


@pytest.fixture(scope="module")
def catalogue():
    return synth_catalogue(600, seed=11)


def test_classes_match_the_syntetos_boylan_classifier(catalogue):
    frame, intended = catalogue
    q = frame["quantity"].to_numpy().reshape(len(intended), -1)
    got = np.array([sb_class(y) for y in q])
    assert (got == intended.to_numpy()).mean() >= 0.95  # each SKU lands in the class it was drawn for
    for cls, share in CLASS_SHARES.items():  # 600 SKUs: binomial sd of a share <= 0.02
        assert abs((got == cls).mean() - share) < 0.06, cls


def test_catalogue_looks_like_sales(catalogue):
    frame, intended = catalogue
    assert list(frame.columns) == ["date", "sku", "quantity"]
    q = frame["quantity"].to_numpy().reshape(len(intended), -1)
    assert q.min() == 0 and np.issubdtype(q.dtype, np.integer)
    launched = (np.argmax(q > 0, axis=1) > 60).mean()  # no sale in the first two months
    assert 0.1 < launched < 0.35  # 20% launched in the first year, plus intermittent SKUs' first gaps
    smooth = q[intended.to_numpy() == "smooth"]
    dow = frame["date"].iloc[: q.shape[1]].dt.day_of_week.to_numpy()
    weekly = np.array([[row[dow == d].mean() for d in range(7)] for row in smooth[:50]])
    swing = (weekly.max(axis=1) - weekly.min(axis=1)) / weekly.mean(axis=1)
    assert np.median(swing) > 0.1  # a weekly pattern per SKU (phases differ between SKUs)


def test_same_seed_same_file_and_loader_reads_it(tmp_path):
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.parquet"
    write_catalogue(a, 2100, seed=3, days=60)  # two blocks
    write_catalogue(b, 2100, seed=3, days=60)
    write_catalogue(c, 30, seed=4, days=60)
    assert a.read_bytes() == b.read_bytes()
    write_catalogue(b, 2100, seed=4, days=60)
    assert a.read_bytes() != b.read_bytes()
    history = load_history(str(c))
    expected, _ = synth_catalogue(30, seed=4, days=60)
    assert history.freq.startswith("D") and len(history.skus()) == 30
    for sku in history.skus():
        got = history.series(sku)
        want = expected[expected.sku == sku].set_index("date")["quantity"]
        assert got.to_numpy().tolist() == want.loc[got.index].tolist()
    frame = pd.read_csv(a)
    assert len(frame) == 2100 * 60 and frame["sku"].nunique() == 2100


@pytest.mark.parametrize(("skus", "days", "name"), [(0, 60, "--skus 0"), (5, 3, "--days 3")])
def test_bad_sizes_are_config_errors(tmp_path, skus, days, name):
    with pytest.raises(ConfigError, match=name):
        write_catalogue(tmp_path / "x.csv", skus, seed=1, days=days)
