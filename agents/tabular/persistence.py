"""Save and load tabular agents: arrays in ``table.npz``, everything else in ``agent.json``. No pickle.

A saved agent is a directory::

    table.npz    q (n_states x n_actions, float64, NaN where the action is masked), counts (int64),
                 mask (bool)
    agent.json   format version, algorithm, env config, hyper-parameters, discretiser, counters,
                 average-reward estimate and the RNG state (enough to resume training bit for bit)

``np.load(..., allow_pickle=False)`` refuses object arrays, so loading a tampered file cannot run code.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from stocklab.envs.core.errors import PolicyError
from stocklab.envs.core.storage import check_format, format_stamp, write_bytes, write_json

#: The on-disk format (its version is in :data:`stocklab.envs.core.storage.FORMATS`).
FORMAT = "stocklab-tabular-agent"
TABLE_FILE = "table.npz"
META_FILE = "agent.json"
ARRAYS = ("q", "counts", "mask")


def save_table(path: str | Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    """Write ``arrays`` (keys :data:`ARRAYS`) and ``meta`` into directory ``path``; return the path.

    Each file is written atomically, the table first, so a reader never sees half a checkpoint.
    """
    path = Path(path)
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(arrays[k]) for k in ARRAYS})
    write_bytes(path / TABLE_FILE, buf.getvalue())
    write_json(path / META_FILE, {**format_stamp(FORMAT), **meta})
    return path


def load_table(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a directory written by :func:`save_table`; PolicyError if it is missing or malformed."""
    path = Path(path)
    table, meta_file = path / TABLE_FILE, path / META_FILE
    if not table.is_file() or not meta_file.is_file():
        raise PolicyError(f"{path}: not a saved tabular agent (expected {TABLE_FILE} and {META_FILE})")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PolicyError(f"{meta_file}: unreadable ({exc})") from None
    check_format(meta, FORMAT, meta_file, PolicyError)
    try:
        with np.load(table, allow_pickle=False) as data:
            arrays = {k: np.array(data[k]) for k in ARRAYS}
    except (OSError, KeyError, ValueError) as exc:
        raise PolicyError(f"{table}: unreadable or incomplete ({exc})") from None
    shape = arrays["q"].shape
    if len(shape) != 2 or any(arrays[k].shape != shape for k in ARRAYS):
        raise PolicyError(f"{table}: arrays q, counts, mask must share one 2-d shape")
    return arrays, meta
