"""The run folder ``<out>/<name>/``: its layout, the per-episode results schema, the unit records.

A *unit* (the DP optimum, a built policy, one evaluation episode of one policy) is finished when its
JSON record exists and carries the hash of everything it depends on (inputs and code); a re-run skips
it. Every file is written atomically (:mod:`stocklab.envs.core.storage`), records last, so a unit never
reads another unit's half-written output. One ``stocklab run`` at a time may use a folder
(:meth:`RunFolder.lock`).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from stocklab.envs.core.errors import ConfigError
from stocklab.envs.core.storage import read_json, write_bytes, write_json, write_text

__all__ = [
    "EPISODE_COLUMNS",
    "TRACE_COLUMNS",
    "RunFolder",
    "episodes_frame",
    "read_episodes",
    "read_json",
    "read_unit",
    "write_bytes",
    "write_csv",
    "write_json",
    "write_text",
]

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


def write_csv(path: str | Path, frame: pd.DataFrame) -> None:
    """Write a frame as CSV atomically (floats in shortest round-trip form: equal data, equal bytes)."""
    write_text(path, frame.to_csv(index=False, lineterminator="\n"))


@dataclass(frozen=True)
class RunFolder:
    """The layout of one run folder (all paths under ``root``)."""

    root: Path

    def policy_dir(self, name: str) -> Path:
        """Folder of policy ``name``'s build: its saved policy, learning curve and record."""
        return self.root / "policies" / name

    def policy_record(self, name: str) -> Path:
        """The record that marks policy ``name`` as built."""
        return self.policy_dir(name) / "record.json"

    def episode(self, name: str, index: int) -> Path:
        """The record of evaluation episode ``index`` of policy ``name``."""
        return self.root / "episodes" / name / f"{index:05d}.json"

    def trace(self, name: str) -> Path:
        """The period-by-period trace of policy ``name``'s first evaluation episode."""
        return self.root / "traces" / f"{name}.csv"

    @property
    def optimum_dir(self) -> Path:
        """Folder of the DP optimum (its record and its state table)."""
        return self.root / "optimum"

    @property
    def optimum_record(self) -> Path:
        """The record that marks the DP optimum as solved."""
        return self.optimum_dir / "record.json"

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder for one run; ConfigError when another process holds it.

        An advisory ``flock`` on ``.lock``: the kernel releases it when the holder exits, even on
        SIGKILL, so a crashed run never leaves a stale lock behind.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                raise ConfigError(
                    f"{self.root}: another stocklab run (pid {holder}) is using this folder; wait for it "
                    "to finish, or give another --out"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock


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
