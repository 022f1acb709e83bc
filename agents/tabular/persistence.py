"""Save and load tabular agents: arrays in ``table.npz``, everything else in ``agent.json``. No pickle.

A saved agent is a directory::

    table.npz    q (n_states x n_actions, float64, NaN where the action is masked), counts (int64),
                 mask (bool)
    agent.json   format version, algorithm, env config, hyper-parameters, discretiser, counters,
                 average-reward estimate and the RNG state (enough to resume training bit for bit)

``np.load(..., allow_pickle=False)`` refuses object arrays, so loading a tampered file cannot run code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from stocklab.envs.core.errors import PolicyError

#: Bumped when the layout changes; loading refuses other versions.
FORMAT_VERSION = 1
TABLE_FILE = "table.npz"
META_FILE = "agent.json"
ARRAYS = ("q", "counts", "mask")


def save_table(path: str | Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    """Write ``arrays`` (keys :data:`ARRAYS`) and ``meta`` into directory ``path``; return the path.

    Files are written under temporary names and renamed, so a reader never sees half a checkpoint.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tmp_table = path / (TABLE_FILE + ".tmp.npz")
    np.savez_compressed(tmp_table, **{k: np.asarray(arrays[k]) for k in ARRAYS})
    tmp_meta = path / (META_FILE + ".tmp")
    tmp_meta.write_text(json.dumps({"format_version": FORMAT_VERSION, **meta}, indent=1), encoding="utf-8")
    os.replace(tmp_table, path / TABLE_FILE)
    os.replace(tmp_meta, path / META_FILE)
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
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        version = meta.get("format_version") if isinstance(meta, dict) else None
        raise PolicyError(f"{meta_file}: format_version {version!r}, expected {FORMAT_VERSION}")
    try:
        with np.load(table, allow_pickle=False) as data:
            arrays = {k: np.array(data[k]) for k in ARRAYS}
    except (OSError, KeyError, ValueError) as exc:
        raise PolicyError(f"{table}: unreadable or incomplete ({exc})") from None
    shape = arrays["q"].shape
    if len(shape) != 2 or any(arrays[k].shape != shape for k in ARRAYS):
        raise PolicyError(f"{table}: arrays q, counts, mask must share one 2-d shape")
    return arrays, meta
