"""The SKU attributes table of a catalogue: one row per SKU, validated cell by cell.

A CSV or parquet file with a ``sku`` column and any of the columns below (an empty cell keeps the
default from the ``env`` section). Every SKU of the catalogue needs a row; rows of other SKUs are
ignored (a table may describe a whole assortment and the catalogue select part of it).

===========  ==============================  ===========================
column       meaning                         allowed
===========  ==============================  ===========================
lead_time    fixed lead time (periods)       whole number >= 0
unit_cost    money per unit ordered (c)      > 0
holding      money per unit per period (h)   >= 0
shortage     money per unit short (p)        >= 0
fixed_order  money per order placed (K)      >= 0
unit_order   money per unit, in the cost     >= 0
volume       capacity units per unit         > 0
max_order    largest order (units)           whole number >= 1
priority     served first when higher        any number
on_hand      start stock (units)             whole number >= 0
capacity     the SKU's own capacity (units)  whole number >= 1
===========  ==============================  ===========================

A bad table raises :class:`DataError` naming the file, the row (CSV: row 1 is the header), the
column, the value and the SKU: ``catalogue.attributes: skus.csv row 7, column 'lead_time': -1 must
be >= 0 (sku 'N1402')``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stocklab.envs.catalogue.config import ATTRIBUTE_COLUMNS, MAX_LIMIT
from stocklab.envs.config import MAX_RATE, MAX_UNITS
from stocklab.envs.core.errors import DataError, did_you_mean
from stocklab.envs.sales.history import MISSING_TOKENS

#: (lowest, lowest allowed itself, highest, whole numbers only) per column.
RULES: dict[str, tuple[float, bool, float, bool]] = {
    "lead_time": (0, True, 10_000, True),
    "unit_cost": (0, False, MAX_RATE, False),
    "holding": (0, True, MAX_RATE, False),
    "shortage": (0, True, MAX_RATE, False),
    "fixed_order": (0, True, MAX_RATE, False),
    "unit_order": (0, True, MAX_RATE, False),
    "volume": (0, False, MAX_RATE, False),
    "max_order": (1, True, MAX_UNITS, True),
    "priority": (-MAX_LIMIT, True, MAX_LIMIT, False),
    "on_hand": (0, True, MAX_UNITS, True),
    "capacity": (1, True, MAX_UNITS, True),
}


@dataclass(frozen=True)
class AttributeTable:
    """Validated attributes: per SKU, the values of its non-empty cells by column."""

    where: str
    values: dict[str, dict[str, float]]

    def for_skus(self, skus: Sequence[str]) -> list[dict[str, float]]:
        """The attributes of each of ``skus``; DataError naming a SKU without a row."""
        missing = [s for s in skus if s not in self.values]
        if missing:
            more = f" ({len(missing)} SKUs have none, e.g. {missing[:3]})" if len(missing) > 1 else ""
            hint = did_you_mean(missing[0], self.values)
            raise DataError(
                f"{self.where} has no row for sku '{missing[0]}'{more}.{hint} Every SKU of the "
                "catalogue needs a row (empty cells keep the env defaults)"
            )
        return [self.values[s] for s in skus]


def read_attributes(path: Path, shown: str) -> AttributeTable:
    """Read and validate an attributes table (module docstring); ``shown`` is the path as the user gave it."""
    where = f"catalogue.attributes: {shown}"
    frame, first_row = _read(path, where)
    frame.columns = [str(c).strip() for c in frame.columns]
    if "sku" not in frame.columns:
        raise DataError(
            f"{where} row 1 (header): no column 'sku'.{did_you_mean('sku', frame.columns)} "
            f"Columns found: {', '.join(frame.columns)}"
        )
    allowed = ("sku", *ATTRIBUTE_COLUMNS)
    for col in frame.columns:
        if col not in allowed:
            raise DataError(
                f"{where} row 1 (header): unknown column '{col}'.{did_you_mean(col, allowed)} "
                f"Allowed: {', '.join(allowed)}"
            )
    rows = np.arange(first_row, first_row + len(frame))
    skus = _skus(frame["sku"], rows, where)
    values: dict[str, dict[str, float]] = {sku: {} for sku in skus}
    for col in frame.columns:
        if col != "sku":
            _column(frame[col], col, skus, rows, where, values)
    return AttributeTable(where, values)


def _read(path: Path, where: str) -> tuple[pd.DataFrame, int]:
    if not path.is_file():
        raise DataError(f"{where}: file not found ({path})")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True), 2
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path), 1
    except Exception as exc:  # pandas and pyarrow raise many types for unreadable files
        raise DataError(f"{where}: cannot read the file ({str(exc).strip()})") from None
    raise DataError(f"{where}: unsupported file type '{suffix}' (expected .csv or .parquet)")


def _skus(raw: pd.Series, rows: np.ndarray, where: str) -> list[str]:
    skus = [str(s).strip() for s in raw]
    first: dict[str, int] = {}
    for sku, row, cell in zip(skus, rows.tolist(), raw):
        if cell is None or (isinstance(cell, float) and math.isnan(cell)) or sku == "":
            raise DataError(f"{where} row {row}, column 'sku': empty sku identifier")
        if sku in first:
            raise DataError(
                f"{where} row {row}, column 'sku': duplicate sku '{sku}' (first at row {first[sku]}); "
                "give one row per SKU"
            )
        first[sku] = row
    return skus


def _column(
    raw: pd.Series, col: str, skus: list[str], rows: np.ndarray, where: str, out: dict[str, dict[str, float]]
) -> None:
    """Validate column ``col`` cell by cell into ``out[sku][col]`` (empty cells are left out)."""
    low, inclusive, high, whole = RULES[col]
    text = raw.astype(str).str.strip()
    missing = (raw.isna() | text.str.lower().isin(MISSING_TOKENS)).to_numpy()
    numbers = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(dtype=float)
    for k in np.flatnonzero(~missing).tolist():
        value, cell = numbers[k], text.iat[k]
        at = f"{where} row {rows[k]}, column '{col}': {cell}"
        sku = f"(sku '{skus[k]}')"
        if not math.isfinite(value):
            raise DataError(f"{at} is not a number {sku}")
        if value < low or (value == low and not inclusive):
            raise DataError(f"{at} must be {'>=' if inclusive else '>'} {low:g} {sku}")
        if value > high:
            raise DataError(f"{at} must be <= {high:g} {sku}")
        if whole and value != int(value):
            raise DataError(f"{at} must be a whole number {sku}")
        out[skus[k]][col] = int(value) if whole else float(value)


def attribute_summary(values: list[dict[str, Any]]) -> dict[str, int]:
    """How many SKUs set each column (for a build's notes)."""
    counts: dict[str, int] = {}
    for row in values:
        for col in row:
            counts[col] = counts.get(col, 0) + 1
    return counts
