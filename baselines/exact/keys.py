"""Integer keys of stock states and an index that numbers them in order of discovery.

Used by the exact evaluation of a policy (:mod:`stocklab.baselines.exact.chain`), which finds the
states a policy reaches breadth first: every level looks up a front of new keys among all the keys
found so far, so the lookup must not cost a pass over all of them (a chain with many levels, each
adding a few states, would then take quadratic time).
"""

from __future__ import annotations

import numpy as np

from stocklab.baselines.exact.model import DPInstance
from stocklab.envs.core.errors import ConfigError

#: Net inventory is stored as x + OFFSET, so keys stay non-negative for |x| < OFFSET units.
OFFSET = 1 << 24


class PipelineKeys:
    """One int64 per state (x, p_0, ..., p_{m-1}): (x + OFFSET) * radix^m + mixed-radix pipeline code.

    ``radix`` exceeds every pipeline entry (an order is at most max_order units).
    """

    def __init__(self, inst: DPInstance, radix: int) -> None:
        self.inst, self.radix, self.m = inst, radix, inst.pipeline_length
        if (2 * OFFSET) * float(radix) ** self.m >= 2.0**62:
            raise ConfigError(
                f"env.lead_time: a pipeline of {self.m} entries up to {radix - 1} units is too large"
            )
        self._scale = radix**self.m

    def encode(self, x: np.ndarray, pipe: np.ndarray) -> np.ndarray:
        """Keys of states (x, pipeline rows)."""
        return (x + OFFSET) * self._scale + self.inst.pipe_codes(pipe, self.radix)

    def encode_next(self, x_next: np.ndarray, pipe: np.ndarray, q: np.ndarray, row: np.ndarray) -> np.ndarray:
        """Keys of next states: stock ``x_next`` and pipeline (p_1, ..., p_{m-1}, q) of state ``row``."""
        return (x_next + OFFSET) * self._scale + self.inst.rest_codes(pipe, q, self.radix)[row]

    def decode(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """States (x, pipeline rows) of ``keys``."""
        pipe = np.zeros((len(keys), self.m), dtype=np.int64)
        rest = keys.copy()
        for j in range(self.m - 1, -1, -1):
            rest, pipe[:, j] = np.divmod(rest, self.radix)
        return rest - OFFSET, pipe


class KeyIndex:
    """Ids 0, 1, 2, ... of int64 keys in the order they were added, with vectorised lookup.

    The keys are kept in sorted runs whose sizes at least halve from one run to the next (two runs
    are merged when the older one is at most twice the newer, like a binary counter), so there are
    O(log n) runs, a lookup costs O(log^2 n) per key and adding k keys O(k log^2 n) amortised,
    however the keys arrive.
    """

    def __init__(self, first: np.ndarray) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []
        self.n = 0
        self.add(first)

    def find(self, keys: np.ndarray) -> np.ndarray:
        """Id of each key, -1 for keys never added."""
        ids = np.full(len(keys), -1, dtype=np.int64)
        for run_keys, run_ids in self._runs:
            pos = np.minimum(np.searchsorted(run_keys, keys), len(run_keys) - 1)
            hit = run_keys[pos] == keys
            ids[hit] = run_ids[pos[hit]]
        return ids

    def add(self, keys: np.ndarray) -> np.ndarray:
        """Add the keys not seen before (ids n, n + 1, ... in sorted key order); return them sorted."""
        uniq = np.unique(keys)
        new = uniq[self.find(uniq) < 0]
        if not len(new):
            return new
        self._runs.append((new, np.arange(self.n, self.n + len(new))))
        self.n += len(new)
        while len(self._runs) > 1 and len(self._runs[-2][0]) <= 2 * len(self._runs[-1][0]):
            (k1, i1), (k2, i2) = self._runs.pop(), self._runs.pop()
            merged = np.concatenate([k2, k1])
            order = np.argsort(merged, kind="stable")
            self._runs.append((merged[order], np.concatenate([i2, i1])[order]))
        return new
