"""Arrays of exported policies, read with their size known before any allocation.

An ``.npz`` file is a zip of ``.npy`` files. Each member's header (dtype and shape) is read and
checked first; only then is the array read, with ``allow_pickle=False``. The zip's declared
uncompressed size of each member is checked against the header, so a small file that inflates to
gigabytes (a "zip bomb") is refused. For the DP table, the number of states its bounds describe is
counted in O(m x states) integer operations before the state space is enumerated.
"""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from stocklab.envs.config import EnvConfig
from stocklab.envs.core.errors import PolicyError

#: Slack (bytes) allowed beyond an ``.npy`` member's header and data (alignment padding).
NPY_SLACK = 4096
#: Largest ``.npy`` header read (bytes).
MAX_NPY_HEADER = 1 << 16

Header = tuple[tuple[int, ...], np.dtype]


def _read_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> Header:
    with zf.open(info) as fp:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fp, max_header_size=MAX_NPY_HEADER)
        elif version in ((2, 0), (3, 0)):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fp, max_header_size=MAX_NPY_HEADER)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        offset = fp.tell()
    if dtype.hasobject or dtype.kind not in "biuf" or dtype.itemsize > 8:
        raise PolicyError(f"{where}: {info.filename} holds {dtype}; only numbers are allowed (no objects)")
    nbytes = math.prod(shape) * dtype.itemsize
    if info.file_size > offset + nbytes + NPY_SLACK:
        raise PolicyError(
            f"{where}: {info.filename} declares {info.file_size:,} bytes for {nbytes:,} of data"
        )
    return tuple(int(n) for n in shape), dtype


def npz_headers(blob: bytes, names: tuple[str, ...], where: str) -> dict[str, Header]:
    """Shape and dtype of each array of an ``.npz`` (exactly ``names``), read without the data."""
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            members = {i.filename: i for i in zf.infolist()}
            if set(members) != {f"{n}.npy" for n in names}:
                raise PolicyError(f"{where}: expected the arrays {', '.join(names)}, found {sorted(members)}")
            return {n: _read_header(zf, members[f"{n}.npy"], where) for n in names}
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as exc:
        raise PolicyError(f"{where}: not a readable .npz file ({exc})") from None


def npz_arrays(blob: bytes, names: tuple[str, ...], where: str) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` whose headers :func:`npz_headers` has checked (no pickle)."""
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            return {n: np.asarray(data[n]) for n in names}
    except (zipfile.BadZipFile, ValueError, KeyError, EOFError, OSError) as exc:
        raise PolicyError(f"{where}: not a readable .npz file ({exc})") from None


def dp_state_count(env: EnvConfig, upper: int, lower: int, limit: int) -> int:
    """The number of states of the DP's truncated state space, or ``limit + 1`` when it has more.

    The count of ``DPInstance.from_config`` with these bounds, in memory O(limit) and time O(m x limit).

    States are (x, p_0, ..., p_{m-1}) with m = max(L - 1, 0) pipeline entries in [0, P],
    P = min(max_order, upper - lower), pipeline sum s <= upper - x_floor and x in
    [max(x_floor, lower - s), min(upper - s, capacity)], x_floor = 0 (lost sales) or lower - m P.
    With N_k(s) the number of k-tuples of [0, P] summing to s (N_k = N_{k-1} convolved with a box of
    P + 1 ones), the count is sum_s N_m(s) w(s), w(s) the number of x values.
    """
    lead = env.lead_time.fixed
    m = max(int(lead or 0) - 1, 0)
    lost = env.unmet_demand == "lost"
    top = max(0, min(env.max_order, upper - lower))
    x_floor = 0 if lost else lower - m * top
    span = upper - x_floor  # largest pipeline sum kept
    counts = np.ones(1, dtype=np.int64)
    for k in range(1, m + 1):
        length = min(span, k * top) + 1
        if length > limit:  # every sum 0..length-1 is reached by at least one tuple
            return limit + 1
        cum = np.concatenate([[0], np.cumsum(counts)])
        s = np.arange(length)
        hi, lo = np.minimum(s, len(counts) - 1), np.maximum(s - top, 0)
        counts = np.where(hi >= lo, cum[hi + 1] - cum[lo], 0)
        counts = np.minimum(counts, limit + 1)
        if int(counts.sum()) > limit:
            return limit + 1
    s = np.arange(len(counts))
    x_hi = upper - s if env.capacity is None else np.minimum(upper - s, env.capacity)
    x_lo = np.maximum(x_floor, lower - s)
    width = np.minimum(np.maximum(x_hi - x_lo + 1, 0), limit + 1)
    total = float(np.dot(counts.astype(np.float64), width.astype(np.float64)))
    return int(total) if total <= limit else limit + 1


def check_dp_bounds(meta: Any, env: EnvConfig, rows: int, max_states: int, where: str) -> dict[str, Any]:
    """Check the saved DP bounds against the table's ``rows`` and the DP's limit.

    Returns the bounds (``tol``, ``max_position``, ``min_position``, ``max_states``) that rebuild
    the table's state space; PolicyError when they describe any other number of states.
    """
    allowed = {"format", "format_version", "tol", "max_position", "min_position", "max_states", "fields"}
    if not isinstance(meta, Mapping) or not set(meta) <= allowed:
        raise PolicyError(f"{where}: expected the keys {sorted(allowed)}")
    lost = env.unmet_demand == "lost"
    keys = ("max_position", "max_states") if lost else ("max_position", "min_position", "max_states")
    for key in keys:
        value = meta.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 10**12:
            raise PolicyError(f"{where}: {key} (={value!r}) must be a whole number")
    tol = meta.get("tol")
    if isinstance(tol, bool) or not isinstance(tol, int | float) or not 1e-15 <= tol <= 0.1:
        raise PolicyError(f"{where}: tol (={tol!r}) must be in [1e-15, 0.1]")
    if not 1 <= rows <= min(int(meta["max_states"]), max_states):
        raise PolicyError(
            f"{where}: the table has {rows:,} states; allowed: 1 to {min(int(meta['max_states']), max_states):,} "
            f"(max_states, and the DP's limit of {max_states:,})"
        )
    upper = int(meta["max_position"])
    lower = 0 if lost else int(meta["min_position"])
    if env.capacity is not None and not lost:
        lower = min(lower, env.capacity)
    if upper < max(lower, 0):
        raise PolicyError(f"{where}: max_position (={upper}) must be >= max(0, min_position={lower})")
    count = dp_state_count(env, upper, lower, rows)
    if count != rows:
        shown = f"more than {rows:,}" if count > rows else f"{count:,}"
        raise PolicyError(f"{where}: the bounds describe {shown} states, but the table has {rows:,} rows")
    bounds: dict[str, Any] = {"tol": float(tol), "max_position": upper, "max_states": rows}
    if not lost:
        bounds["min_position"] = int(meta["min_position"])
    return bounds
