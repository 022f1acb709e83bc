"""A synthetic catalogue: realistic daily e-commerce sales of many SKUs, from one seed.

Catalogues of 10,000 to 1,000,000 SKUs can then be tested without data. Each SKU draws a demand
class of the Syntetos-Boylan scheme (Syntetos, Boylan & Croston 2005, J. Oper. Res. Soc. 56:495;
cut-offs ADI = 1.32 periods, CV^2 = 0.49) from :data:`CLASS_SHARES`, and its daily quantity is

    q_t = B_t * S_t,   B_t ~ Bernoulli(min(1, p * u_t)),
    S_t = 1 + Poisson((mu - 1) * G_t * w_t * y_t * r_t * u_t),   G_t ~ Gamma(k, 1 / k),

with p the probability of a sale on a day (smooth / erratic: 0.88-1, ADI < 1.14; intermittent /
lumpy: 0.05-0.6, ADI > 1.6), mu the mean size, G_t day-to-day noise whose squared coefficient of
variation 1 / k sets the class's CV^2 of sizes (low: 0.01-0.12, high: 0.9-2.5), w_t a weekly profile
(amplitude 0-0.2), y_t a yearly one (amplitude 0-0.25), r_t = exp(beta t / 365) a trend (beta ~
N(0, 0.15) per year), and u_t a promotion uplift (1.4-2.5 on promotion days: runs of 4 days
starting on 1 day in 90 on average, for half of the SKUs). Some SKUs are launched during the first
half of the horizon (20%) or phased out during the second half (10%): no sales before / after.

Vectorised over SKUs and days with NumPy; SKUs are generated in blocks of :data:`BLOCK` from
``SeedSequence(seed).spawn``, so the same seed and size give the same file and memory stays
bounded (about 100 MB per block of two years).
The output is the long format ``date, sku, quantity`` that :func:`~stocklab.envs.sales.history.load_history`
reads (CSV or parquet, every day of every SKU, zeros included).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from stocklab.envs.core.errors import ConfigError
from stocklab.envs.core.storage import atomic_path

#: Share of each Syntetos-Boylan class in the catalogue.
CLASS_SHARES = {"smooth": 0.35, "erratic": 0.15, "intermittent": 0.30, "lumpy": 0.20}
CLASSES = tuple(CLASS_SHARES)
#: SKUs generated together (one block of the seed's spawned sequences).
BLOCK = 2048
#: Largest catalogue the command accepts (SKUs) and longest horizon (days).
MAX_SKUS, MAX_DAYS = 10_000_000, 20 * 366
WEEKLY_AMP, YEARLY_AMP, TREND_SD = 0.2, 0.25, 0.15
PROMO_SKUS, PROMO_START, PROMO_DAYS, PROMO_UPLIFT = 0.5, 1 / 90, 4, (1.4, 2.5)
LAUNCHED, PHASED_OUT = 0.20, 0.10


@dataclass(frozen=True)
class Block:
    """One block of SKUs: daily quantities (SKUs x days, units) and each SKU's class."""

    quantity: np.ndarray
    classes: np.ndarray


def check_args(skus: int, days: int) -> None:
    """ConfigError naming the option when the catalogue size or horizon is out of range."""
    if not 1 <= skus <= MAX_SKUS:
        raise ConfigError(f"--skus {skus}: must be between 1 and {MAX_SKUS:,}")
    if not 7 <= days <= MAX_DAYS:
        raise ConfigError(f"--days {days}: must be between 7 and {MAX_DAYS} (whole days)")


def _promotions(rng: np.random.Generator, n: int, days: int) -> np.ndarray:
    """Uplift factor per SKU and day: 1 off promotion, the SKU's uplift during a promotion run."""
    starts = (rng.random((n, days)) < PROMO_START) & (rng.random((n, 1)) < PROMO_SKUS)
    c = np.cumsum(starts, axis=1)
    lagged = np.zeros_like(c)
    lagged[:, PROMO_DAYS:] = c[:, :-PROMO_DAYS]
    active = (c - lagged) > 0  # a start within the last PROMO_DAYS days
    uplift = rng.uniform(*PROMO_UPLIFT, size=(n, 1))
    return np.where(active, uplift, 1.0)


def _lifecycle(rng: np.random.Generator, n: int, days: int) -> np.ndarray:
    """Whether each SKU is on sale each day (launches in the first half, phase-outs in the second)."""
    t = np.arange(days)
    launch = np.where(rng.random(n) < LAUNCHED, rng.integers(0, days // 2, n), 0)
    end = np.where(rng.random(n) < PHASED_OUT, rng.integers(days // 2, days, n), days)
    return (t >= launch[:, None]) & (t < end[:, None])


def _block(rng: np.random.Generator, n: int, days: int, start: pd.Timestamp) -> Block:
    """Generate ``n`` SKUs over ``days`` days (module docstring)."""
    cls = rng.choice(len(CLASSES), size=n, p=list(CLASS_SHARES.values()))
    frequent = cls < 2  # smooth, erratic
    variable = (cls == 1) | (cls == 3)  # erratic, lumpy
    p = np.where(frequent, rng.uniform(0.88, 1.0, n), rng.uniform(0.05, 0.6, n))[:, None]
    mu = np.where(frequent, 1 + rng.lognormal(np.log(14), 0.8, n), 1 + rng.lognormal(np.log(3), 0.5, n))
    cv2 = np.where(variable, rng.uniform(0.9, 2.5, n), rng.uniform(0.01, 0.12, n))[:, None]
    t = np.arange(days)
    dow = ((start.day_of_week + t) % 7)[None, :]
    doy = (start.day_of_year + t)[None, :]
    weekly = 1 + rng.uniform(0, WEEKLY_AMP, (n, 1)) * np.sin(
        2 * np.pi * (dow + rng.uniform(0, 7, (n, 1))) / 7
    )
    yearly = 1 + rng.uniform(0, YEARLY_AMP, (n, 1)) * np.sin(
        2 * np.pi * (doy + rng.uniform(0, 365.25, (n, 1))) / 365.25
    )
    trend = np.exp(rng.normal(0, TREND_SD, (n, 1)) * t[None, :] / 365.0)
    uplift = _promotions(rng, n, days)
    noise = rng.gamma(1 / cv2, cv2, size=(n, days))
    sale = rng.random((n, days)) < np.minimum(1.0, p * uplift)
    size = 1 + rng.poisson((mu[:, None] - 1) * noise * weekly * yearly * trend * uplift)
    quantity = np.where(sale & _lifecycle(rng, n, days), size, 0)
    return Block(quantity.astype(np.int64), np.asarray(CLASSES)[cls])


def blocks(skus: int, seed: int, days: int = 730, start: str = "2024-01-01") -> Iterator[Block]:
    """The catalogue's SKUs, block by block (deterministic in ``seed``; see the module docstring)."""
    check_args(skus, days)
    first = pd.Timestamp(start)
    n_blocks = -(-skus // BLOCK)
    for b, child in enumerate(np.random.SeedSequence(seed).spawn(n_blocks)):
        n = min(BLOCK, skus - b * BLOCK)
        yield _block(np.random.default_rng(child), n, days, first)


def sku_names(skus: int) -> list[str]:
    """SKU identifiers ``SKU0000001``, ... (zero-padded to sort in order)."""
    width = max(7, len(str(skus)))
    return [f"SKU{i:0{width}d}" for i in range(1, skus + 1)]


def synth_catalogue(
    skus: int, seed: int, days: int = 730, start: str = "2024-01-01"
) -> tuple[pd.DataFrame, pd.Series]:
    """The whole catalogue in memory: the long ``date, sku, quantity`` table and each SKU's class."""
    parts = list(blocks(skus, seed, days, start))
    q = np.concatenate([b.quantity for b in parts])
    names = sku_names(skus)
    frame = _long(q, names, pd.date_range(start, periods=days, freq="D"))
    return frame, pd.Series(np.concatenate([b.classes for b in parts]), index=names, name="class")


def _long(q: np.ndarray, names: list[str], dates: pd.DatetimeIndex) -> pd.DataFrame:
    n, days = q.shape
    return pd.DataFrame(
        {
            "date": np.tile(dates.values, n),
            "sku": np.repeat(np.asarray(names, dtype=object), days),
            "quantity": q.reshape(-1),
        }
    )


def write_catalogue(
    path: str | Path, skus: int, seed: int, days: int = 730, start: str = "2024-01-01"
) -> int:
    """Generate the catalogue block by block into ``path`` (.csv or .parquet), atomically; return rows."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise ConfigError(
            f"--out {str(path)!r}: unsupported file type {suffix!r} (expected .csv or .parquet)"
        )
    check_args(skus, days)
    names, dates = sku_names(skus), pd.date_range(start, periods=days, freq="D")
    rows, writer = 0, None
    with atomic_path(path) as tmp:
        for b, block in enumerate(blocks(skus, seed, days, start)):
            frame = _long(block.quantity, names[b * BLOCK : b * BLOCK + len(block.quantity)], dates)
            if suffix == ".csv":
                frame.to_csv(tmp, mode="a", header=b == 0, index=False, date_format="%Y-%m-%d")
            else:
                import pyarrow as pa
                import pyarrow.parquet as pq

                table = pa.Table.from_pandas(frame, preserve_index=False)
                writer = writer or pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table)
            rows += len(frame)
        if writer is not None:
            writer.close()
    return rows
