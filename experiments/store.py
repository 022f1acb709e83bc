"""What a run writes to disk: atomic file writes, the per-episode results schema, and unit records.

Every file is written to a temporary file in its destination folder and moved into place with
``os.replace`` (atomic on POSIX), so a crash, SIGKILL or Ctrl-C leaves either the old file or the new
one, never half of one. A *unit* (a trained policy, one evaluation episode of one policy) is finished
when its JSON record exists and carries the hash of everything it depends on; a re-run skips it.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

#: The per-episode results schema, one row per (policy, episode), the same for every policy.
#: Costs are money per period, stock in units (per-period averages), rates in [0, 1].
EPISODE_COLUMNS: dict[str, str] = {
    "policy": "policy name from the config",
    "kind": "policy kind",
    "episode": "episode index 0..episodes-1",
    "seed": "episode seed (common to all policies)",
    "periods": "measured periods (after warm-up)",
    "avg_cost": "average cost per period",
    "holding_cost": "holding cost per period",
    "shortage_cost": "shortage (lost-sales or backorder) cost per period",
    "fixed_cost": "fixed ordering cost per period",
    "unit_cost": "unit ordering cost per period",
    "demand": "total demand (units)",
    "served_from_stock": "demand served from stock on hand in its period (units)",
    "fill_rate": "served from stock / demand",
    "cycle_service_level": "share of periods without a stock-out",
    "avg_on_hand": "average units on hand at the end of a period",
    "avg_backlog": "average units backordered at the end of a period",
    "order_frequency": "share of periods with an order",
    "mean_order_size": "mean units per order placed",
    "bullwhip": "variance of orders / variance of demand",
    "forecast_mae": "mean absolute forecast error (units; NaN without forecasts)",
    "forecast_rmse": "root mean squared forecast error (units)",
    "forecast_bias": "mean forecast - demand (units)",
    "forecast_mape": "mean absolute percentage error over periods with demand > 0 (%)",
}

#: The trace of one evaluation episode per policy (for the trajectory plots).
TRACE_COLUMNS = ("period", "inventory_position", "on_hand", "backlog", "order", "demand", "lost")


def _atomic(path: Path, write: Callable[[Any], None], mode: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    _atomic(path, lambda fh: fh.write(text.encode("utf-8")), "wb")


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    _atomic(path, lambda fh: fh.write(data), "wb")


def _clean(value: Any) -> Any:
    """NaN and infinities become null, so the JSON is standard (and round-trips as NaN via :func:`read_json`)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented standard JSON atomically (NaN -> null)."""
    write_text(path, json.dumps(_clean(data), indent=2, sort_keys=False, default=_default) + "\n")


def _default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def read_json(path: Path) -> Any:
    """Read a JSON file written by :func:`write_json`; None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    """Write a frame as CSV atomically (floats in shortest round-trip form, so equal data => equal bytes)."""
    write_text(path, frame.to_csv(index=False, lineterminator="\n"))


def write_pickle(path: Path, obj: Any) -> None:
    """Pickle ``obj`` atomically (only for resume caches a run writes and reads itself)."""
    write_bytes(path, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def read_pickle(path: Path) -> Any:
    """Unpickle a cache written by :func:`write_pickle` of this run (never a file from elsewhere)."""
    with path.open("rb") as fh:
        return pickle.load(fh)


def read_unit(path: Path, unit_hash: str) -> dict[str, Any] | None:
    """The record of a finished unit, or None when it is missing or was made from other inputs."""
    record = read_json(path)
    if isinstance(record, dict) and record.get("hash") == unit_hash:
        return record
    return None


def episodes_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Per-episode rows as a frame in the schema's column order (missing KPIs are NaN)."""
    frame = pd.DataFrame(rows, columns=list(EPISODE_COLUMNS))
    for col in frame.columns[2:]:
        integer = col in ("episode", "seed", "periods", "demand", "served_from_stock")
        frame[col] = frame[col].astype("int64" if integer else float)
    return frame


def read_episodes(run_dir: Path) -> pd.DataFrame:
    """The per-episode results of a run (``episodes.csv``)."""
    return pd.read_csv(run_dir / "episodes.csv")
