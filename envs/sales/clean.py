"""Cleaning a validated sales history into complete whole-unit series, listing every change.

Steps, per SKU, in this order (each change goes into the :class:`CleaningReport`):

1. **Missing periods and missing values.** Periods between the SKU's first and last date without a
   row, and rows with an empty quantity, are filled with 0 (``missing: zero``; for sales data a
   missing record usually means nothing was sold) or linearly interpolated between the neighbouring
   periods (``missing: interpolate``).
2. **Negative quantities** (returns). ``negatives: net`` sets the period to 0 and takes the returned
   units off the most recent earlier periods with sales (a return undoes an earlier sale), the latest
   first; units with no earlier sale to offset are dropped. ``negatives: drop`` sets the period to 0.
3. **Outliers** (``outliers: cap``; off by default, since capping is a modelling choice: on the M3
   MICRO series, heavy-tailed shipments, it would alter a few hundred observations). A Hampel filter
   (Pearson et al. 2016, EURASIP J. Adv. Signal Process. 2016:87): a quantity above
   center + k * scale is capped there (rounded up to a whole unit), with center the median and scale
   1.4826 * MAD (the scaled median absolute deviation, a robust standard deviation; Leys et al.
   2013) of the positive quantities in a centered window of ``outlier_window`` periods. Zeros are
   left out so that intermittent series are judged by their demand sizes; windows with fewer than
   5 positive quantities or a zero MAD use the SKU's overall median and MAD instead.
4. **Whole units.** Fractional quantities are rounded to the nearest integer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Literal

import numpy as np
from pydantic import Field, PositiveFloat

from stocklab.envs.core.schema import StrictModel

if TYPE_CHECKING:  # pandas is imported when a history is cleaned, not with stocklab.envs
    import pandas as pd

#: Scale factor turning a MAD into a standard-deviation estimate under normality (1 / Phi^-1(3/4)).
MAD_SCALE = 1.4826


class CleaningOptions(StrictModel):
    """How :func:`clean_history` repairs a sales history (module docstring for the rules)."""

    missing: Literal["zero", "interpolate"] = "zero"
    negatives: Literal["net", "drop"] = "net"
    outliers: Literal["cap", "keep"] = "keep"
    outlier_k: PositiveFloat = 5.0
    outlier_window: Annotated[int, Field(ge=3)] = 13


@dataclass(frozen=True, slots=True)
class Change:
    """One change cleaning made to one period of one SKU.

    ``kind`` is missing_period, missing_value, return_netted, return_dropped, outlier_capped or
    rounded; quantities in units (``before`` NaN when absent).
    """

    sku: str
    date: pd.Timestamp
    kind: str
    before: float
    after: float
    note: str = ""

    def line(self) -> str:
        """The change as one readable line."""
        before = "missing" if np.isnan(self.before) else f"{self.before:g}"
        text = f"{self.sku} {self.date.date()}: {self.kind} {before} -> {self.after:g}"
        return f"{text} ({self.note})" if self.note else text


@dataclass
class CleaningReport:
    """Every change cleaning made, with counts by kind."""

    options: CleaningOptions
    changes: list[Change] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Number of changes of each kind."""
        out: dict[str, int] = {}
        for c in self.changes:
            out[c.kind] = out.get(c.kind, 0) + 1
        return out

    def summary(self, limit: int | None = None) -> str:
        """Counts by kind, then one line per change (the first ``limit`` when given)."""
        if not self.changes:
            return "cleaning: no changes"
        counts = ", ".join(f"{k}: {n}" for k, n in self.counts().items())
        lines = [f"cleaning: {len(self.changes)} changes ({counts})"]
        shown = self.changes if limit is None else self.changes[:limit]
        lines += [f"  {c.line()}" for c in shown]
        if len(shown) < len(self.changes):
            lines.append(f"  ... and {len(self.changes) - len(shown)} more")
        return "\n".join(lines)

    def sort(self, skus: list[str]) -> None:
        """Order the changes by SKU, in the order of ``skus``, then by date."""
        rank = {sku: i for i, sku in enumerate(skus)}
        self.changes.sort(key=lambda c: (rank[c.sku], c.date))

    def to_frame(self) -> pd.DataFrame:
        """The changes as a table (sku, date, kind, before, after, note)."""
        import pandas as pd

        cols = ["sku", "date", "kind", "before", "after", "note"]
        return pd.DataFrame([[getattr(c, k) for k in cols] for c in self.changes], columns=cols)


def clean_history(
    raw: pd.DataFrame, freq: str, options: CleaningOptions
) -> tuple[pd.DataFrame, CleaningReport]:
    """Clean a validated sales table (date, sku, quantity; NaN where missing) into whole-unit series.

    Returns the complete table (date, sku, quantity int64) and the report of changes.
    """
    import pandas as pd

    report = CleaningReport(options)
    codes, decode = period_codes(pd.DatetimeIndex(raw["date"]), freq)
    skus = raw["sku"].to_numpy(dtype=object)
    order = list(dict.fromkeys(skus))
    sku_id = pd.Index(order).get_indexer(skus)
    first = np.full(len(order), np.iinfo(np.int64).max)
    last = np.full(len(order), np.iinfo(np.int64).min)
    np.minimum.at(first, sku_id, codes)
    np.maximum.at(last, sku_id, codes)
    lengths = last - first + 1
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    # The complete grid of every SKU's periods, SKUs one after the other in file order.
    owner = np.repeat(np.arange(len(order)), lengths)
    full_codes = first[owner] + np.arange(lengths.sum()) - offsets[owner]
    y = np.full(len(full_codes), np.nan)
    present = np.zeros(len(full_codes), dtype=bool)
    at = offsets[sku_id] + codes - first[sku_id]
    y[at] = raw["quantity"].to_numpy(dtype=float)
    present[at] = True
    dates = decode(full_codes)
    names = np.asarray(order, dtype=object)[owner]

    def note(i: np.ndarray, kind: str, before: np.ndarray, after: np.ndarray, text: str = "") -> None:
        report.changes.extend(
            Change(str(names[j]), dates[j], kind, float(b), float(a), text)
            for j, b, a in zip(i, before, after)
        )

    holes = np.flatnonzero(np.isnan(y))
    if holes.size:
        before = y[holes].copy()
        y = _fill(y, owner, options.missing)
        how = "filled with 0" if options.missing == "zero" else "interpolated"
        absent = ~present[holes]
        note(holes[absent], "missing_period", before[absent], y[holes[absent]], how)
        note(holes[~absent], "missing_value", before[~absent], y[holes[~absent]], how)
    for k in np.unique(owner[y < 0]):
        lo, hi = offsets[k], offsets[k] + lengths[k]
        y[lo:hi] = _returns(str(order[k]), dates[lo:hi], y[lo:hi], options, report.changes)
    if options.outliers == "cap":
        cap = hampel_caps(y, owner, options.outlier_k, options.outlier_window)
        over = np.flatnonzero(y > cap)
        rule = f"Hampel cap, k = {options.outlier_k:g}, window {options.outlier_window}"
        note(over, "outlier_capped", y[over], cap[over], rule)
        y = np.minimum(y, cap)
    whole = np.rint(y)
    odd = np.flatnonzero(whole != y)
    note(odd, "rounded", y[odd], whole[odd])
    report.sort(order)
    frame = pd.DataFrame({"date": dates, "sku": names.astype(str), "quantity": whole.astype(np.int64)})
    return frame, report


def period_codes(
    dates: pd.DatetimeIndex, freq: str
) -> tuple[np.ndarray, Callable[[np.ndarray], pd.DatetimeIndex]]:
    """Consecutive integer codes of dates on a ``freq`` grid, and the function turning codes back.

    The inverse turns codes back into dates with numpy arithmetic: pandas' month-start ranges are
    slow for hundreds of series.
    """
    import pandas as pd

    base = freq.split("-")[0]
    unit, step = {"D": ("D", 1), "W": ("D", 7), "MS": ("M", 1), "ME": ("M", 1), "QS": ("M", 3),
                  "QE": ("M", 3), "YS": ("M", 12), "YE": ("M", 12)}[base]  # fmt: skip
    raw = dates.to_numpy().astype(f"datetime64[{unit}]").astype(np.int64)
    phase = int(raw[0] % step) if len(raw) else 0
    codes = (raw - phase) // step

    def decode(c: np.ndarray) -> pd.DatetimeIndex:
        n = np.asarray(c, dtype=np.int64) * step + phase
        if unit == "D":
            return pd.DatetimeIndex(n.astype("datetime64[D]").astype("datetime64[us]"))
        if base.endswith("E"):
            out = (n + 1).astype("datetime64[M]").astype("datetime64[D]") - np.timedelta64(1, "D")
        else:
            out = n.astype("datetime64[M]").astype("datetime64[D]")
        return pd.DatetimeIndex(out.astype("datetime64[us]"))

    return codes, decode


def _fill(y: np.ndarray, owner: np.ndarray, how: str) -> np.ndarray:
    import pandas as pd

    if how == "zero":
        return np.where(np.isnan(y), 0.0, y)
    series = pd.Series(y)
    filled = series.groupby(owner).transform(lambda s: s.interpolate(limit_direction="both"))
    return np.array(filled.fillna(0.0), dtype=float)  # a writable copy (pandas hands out read-only views)


def hampel_caps(y: np.ndarray, owner: np.ndarray, k: float, window: int) -> np.ndarray:
    """Upper cap (units) of every period by a Hampel filter.

    The cap is center + k * scale over the positive quantities of a centered window of ``window``
    periods of the same SKU (center = median, scale = 1.4826 * MAD).

    Zeros are left out so that intermittent series are judged by their demand sizes. Where the window
    holds fewer than 5 positive quantities or their MAD is 0, the SKU's overall median and MAD of
    positive quantities are used instead.
    """
    import pandas as pd

    pos = pd.Series(np.where(y > 0, y, np.nan))

    def rolling(s: pd.Series, how: str) -> pd.Series:
        r = s.groupby(owner, sort=False).rolling(window, center=True, min_periods=1)
        return getattr(r, how)().reset_index(level=0, drop=True).sort_index()

    center = rolling(pos, "median")
    scale = MAD_SCALE * rolling((pos - center).abs(), "median")
    count = rolling(pos, "count")
    g_center = pos.groupby(owner, sort=False).transform("median")
    g_scale = MAD_SCALE * (pos - g_center).abs().groupby(owner, sort=False).transform("median")
    local = (count >= 5) & (scale > 0)
    center = center.where(local, g_center)
    scale = scale.where(local, g_scale)
    cap = (center + k * scale).to_numpy()
    # No cap where no scale is known (a flat series); caps are whole units.
    return np.where(np.isfinite(cap) & (scale.to_numpy() > 0), np.ceil(cap), np.inf)


def _returns(
    sku: str, dates: pd.DatetimeIndex, y: np.ndarray, options: CleaningOptions, changes: list[Change]
) -> np.ndarray:
    negative = np.flatnonzero(y < 0)
    if not negative.size:
        return y
    y = y.copy()
    for i in negative:
        returned = -y[i]
        y[i] = 0.0
        if options.negatives == "drop":
            changes.append(Change(sku, dates[i], "return_dropped", -returned, 0.0))
            continue
        offsets = []
        left = returned
        j = i - 1
        while left > 0 and j >= 0:
            take = min(y[j], left)
            if take > 0:
                note = f"return of {dates[i].date()}"
                changes.append(Change(sku, dates[j], "return_netted", y[j], y[j] - take, note))
                y[j] -= take
                left -= take
                offsets.append(f"{take:g} from {dates[j].date()}")
            j -= 1
        note = "netted: " + ", ".join(offsets) if offsets else "no earlier sales to net against"
        if left > 0 and offsets:
            note += f"; {left:g} units dropped"
        changes.append(Change(sku, dates[i], "return_netted", -returned, 0.0, note))
    return y
