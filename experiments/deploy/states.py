"""The states CSV of ``stocklab act --states``: one row per state (per SKU), one column per value.

Columns are named after the policy's ObsSpec fields (``stocklab act POLICY --template`` prints them):

* a scalar field is one column: ``on_hand``, ``backlog``, ``inventory_position``;
* a vector field has one column per entry, ``pipeline[0]``, ``pipeline[1]``, ... (entry k of the
  pipeline is due within k + 1 periods); a one-entry vector may also be written ``pipeline``, and
  any vector may instead be one column holding a JSON list (``"[5, 3]"``);
* ``backlog`` may be left out (0), and ``inventory_position`` too: it is then derived as on hand +
  pipeline - backlog; when given it must equal that sum;
* an optional ``sku`` column (any text) identifies the row and is passed through.

Any other column is refused (a typo would otherwise be ignored silently), as is an empty or
non-numeric cell, NaN or an infinity. The result is the same table with an ``order`` column (units)
appended.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path
from typing import Any

from stocklab.envs.core.errors import DataError, did_you_mean
from stocklab.envs.core.obs import ObsSpec
from stocklab.experiments.deploy.artefact import read_bounded

#: Largest states file read (bytes).
MAX_BYTES = 256 << 20
#: The identifier column passed through.
SKU = "sku"
#: Fields that may be left out: backlog is 0, the inventory position is derived.
OPTIONAL = ("backlog", "inventory_position")
#: Fields that hold one number; every other field is a vector (``pipeline``, ``recent_demand``, ...).
SCALARS = ("on_hand", "backlog", "inventory_position")
_COLUMN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$")


def template(spec: ObsSpec) -> list[str]:
    """The columns of a states file for a policy with ObsSpec ``spec`` (optional ones left out)."""
    cols = [SKU]
    for f in spec.fields:
        if f.name != "inventory_position":
            cols += [f.name] if f.name in SCALARS else [f"{f.name}[{i}]" for i in range(f.size)]
    return cols


def _layout(header: list[str], spec: ObsSpec, where: str) -> dict[int, tuple[str, int | None]]:
    """Column index -> (field, entry) (entry None: the whole field; sku columns map to ("sku", None))."""
    sizes = {f.name: f.size for f in spec.fields}
    expected = template(spec)
    layout: dict[int, tuple[str, int | None]] = {}
    seen: set[tuple[str, int | None]] = set()
    for i, raw in enumerate(header):
        name = raw.strip()
        match = _COLUMN.match(name)
        field, entry = (match.group(1), match.group(2)) if match else (name, None)
        index = None if entry is None else int(entry)
        if name == SKU:
            layout[i] = (SKU, None)
            continue
        if field not in sizes or (index is not None and index >= sizes[field]):
            raise DataError(
                f"{where}: column {name!r} is not a field of this policy.{did_you_mean(name, expected)} "
                f"Columns: {', '.join(expected)} (optional: {', '.join(OPTIONAL)})"
            )
        if sizes[field] == 1 and index == 0:
            index = None  # pipeline[0] of a one-entry pipeline is the whole field
        key = (field, index)
        if key in seen or (field, None) in seen or (index is None and any(k[0] == field for k in seen)):
            raise DataError(f"{where}: column {name!r} repeats a value given by another column")
        seen.add(key)
        layout[i] = key
    missing = [
        c
        for f in spec.fields
        if f.name not in OPTIONAL and (f.name, None) not in seen
        for c in (
            [f.name]
            if f.name in SCALARS
            else [f"{f.name}[{k}]" for k in range(f.size) if (f.name, k) not in seen]
        )
    ]
    if missing:
        raise DataError(f"{where}: missing column(s) {', '.join(missing)}; columns: {', '.join(expected)}")
    return layout


def _number(cell: str, where: str) -> float:
    text = cell.strip()
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{where}: {cell!r} is not a number") from None
    if not math.isfinite(value):
        raise DataError(f"{where}: {cell!r} is not a finite number")
    return value


def _reject(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _vector(cell: str, size: int, where: str) -> list[float]:
    try:
        values = json.loads(cell, parse_constant=_reject)
    except (ValueError, RecursionError):
        values = None
    ok = isinstance(values, list) and len(values) == size
    if not ok or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values
    ):
        raise DataError(
            f"{where}: {cell!r} is not a JSON list of {size} numbers (or use one column per entry)"
        )
    return [float(v) for v in values]


def _state(
    row: list[str], header: list[str], layout: dict[int, tuple[str, int | None]], spec: ObsSpec, where: str
) -> dict[str, Any]:
    sizes = {f.name: f.size for f in spec.fields}
    state: dict[str, Any] = {}
    for i, (field, index) in layout.items():
        cell = row[i]
        here = f"{where}, column {header[i].strip()}"
        if field == SKU:
            continue
        if not cell.strip():
            raise DataError(f"{here}: empty cell; give a number")
        if index is None and field in SCALARS:
            state[field] = _number(cell, here)
        elif index is None and (cell.strip().startswith("[") or sizes[field] > 1):
            state[field] = _vector(cell, sizes[field], here)
        elif index is None:
            state[field] = [_number(cell, here)]
        else:
            state.setdefault(field, [None] * sizes[field])[index] = _number(cell, here)
    return state


def read_states_csv(
    path: str | Path, spec: ObsSpec
) -> tuple[list[str], list[list[str]], list[dict[str, Any]]]:
    """Read a states file: (header, rows as text, one state dict per row); DataError names row and column."""
    path = Path(path)
    data = read_bounded(path, MAX_BYTES, "the states file", follow=True)
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark (spreadsheet exports) is dropped
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise DataError(
                f"{path}: empty file; the first row names the columns ({', '.join(template(spec))})"
            )
        layout = _layout(header, spec, str(path))
        rows, states = [], []
        for row in reader:
            if not any(c.strip() for c in row):
                continue  # blank line
            where = f"{path}: row {reader.line_num}"
            if len(row) != len(header):
                raise DataError(f"{where}: {len(row)} cells for {len(header)} columns")
            rows.append(row)
            states.append(_state(row, header, layout, spec, where))
    except csv.Error as exc:
        raise DataError(f"{path}: row {reader.line_num}: not valid CSV ({exc})") from None
    return header, rows, states


def orders_csv(header: list[str], rows: list[list[str]], orders: list[int]) -> str:
    """The states table with an ``order`` column (units) appended, as CSV text."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*header, "order"])
    for row, order in zip(rows, orders):
        writer.writerow([*row, order])
    return buf.getvalue()
