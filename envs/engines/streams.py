"""Random demand and lead times of B stocking points, drawn in blocks for the batched engine.

Two stream modes:

* ``exact``: every stocking point has its own generators, made from its episode seed exactly as
  :class:`~stocklab.envs.engines.simpy_engine.StockPoint` makes them (``spawn_generators``), and draws
  demand in blocks of ``BLOCK`` periods (calls ``sample(rng, 0, BLOCK)``, ``sample(rng, BLOCK, BLOCK)``,
  ...) and one lead time per order placed from blocks of ``BLOCK`` lead times. Same episode seed, same
  demand and lead times as the SimPy engine, number for number.
* ``shared``: one demand generator and one lead-time generator for the whole batch, seeded once. A
  stationary demand model draws a (BLOCK, n) block for its n stocking points at once, by Walker's
  alias method (Vose 1991, IEEE Trans. Software Eng. 17(9)) from its pmf, the distribution the exact
  DP uses (tail beyond the 1 - 1e-9 quantile folded into the last value): one uniform per draw,
  several times faster than numpy's Poisson sampler. Non-stationary models draw per stocking point.
  Faster to reset and draw for large batches, the same distributions, but not the SimPy engine's
  numbers.

Demand is served from a (rows, B) buffer with one row pointer shared by all stocking points, so a
period costs one row read. A stocking point reset in the middle of a block gets the rest of the
block's rows from its new stream and continues with that stream at the next refill.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from stocklab.envs.core.seeding import STREAMS
from stocklab.envs.demand.base import DemandModel
from stocklab.envs.engines.simpy_engine import BLOCK
from stocklab.envs.leadtime import LeadTimeModel

_DEMAND, _LEAD = STREAMS.index("demand"), STREAMS.index("lead_time")

Seed = int | np.random.SeedSequence | None


def episode_generators(seed: Seed) -> tuple[np.random.Generator, np.random.Generator]:
    """The demand and lead-time generators that ``spawn_generators(seed)`` gives the SimPy engine.

    Only the two streams the batched engine uses are built: for an int seed the children
    ``SeedSequence(seed, spawn_key=(k,))`` directly, which are what ``SeedSequence(seed).spawn`` makes
    (half the cost of a reset of a large batch).
    """
    if isinstance(seed, np.random.SeedSequence):  # spawn() advances its counter: do exactly that
        children = seed.spawn(len(STREAMS))
        demand, lead = children[_DEMAND], children[_LEAD]
    else:
        entropy = np.random.SeedSequence().entropy if seed is None else seed
        demand = np.random.SeedSequence(entropy, spawn_key=(_DEMAND,))
        lead = np.random.SeedSequence(entropy, spawn_key=(_LEAD,))
    return np.random.Generator(np.random.PCG64(demand)), np.random.Generator(np.random.PCG64(lead))


class AliasSampler:
    """Draws from a pmf on 0, 1, ..., K - 1 by Walker's alias method (one uniform per draw).

    With u uniform on [0, K): column k = floor(u), and the draw is k when u - k < prob[k], else
    alias[k]. Vose's construction makes every column's two values carry exactly the pmf's mass.
    """

    def __init__(self, pmf: np.ndarray) -> None:
        pmf = np.asarray(pmf, dtype=float)
        k = len(pmf)
        scaled = pmf / pmf.sum() * k
        self.prob = np.ones(k)
        self.alias = np.arange(k, dtype=np.int64)
        small = [i for i in range(k) if scaled[i] < 1.0]
        large = [i for i in range(k) if scaled[i] >= 1.0]
        while small and large:
            s, g = small.pop(), large.pop()
            self.prob[s], self.alias[s] = scaled[s], g
            scaled[g] -= 1.0 - scaled[s]
            (small if scaled[g] < 1.0 else large).append(g)
        self.size = k

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """int64 draws of the given shape."""
        u = rng.random(shape) * self.size
        col = u.astype(np.int64)
        np.minimum(col, self.size - 1, out=col)  # u * K may round up to K
        return np.where(u - col < self.prob[col], col, self.alias[col])


class _Stream:
    """One stocking point's demand stream: blocks of BLOCK periods, as StockPoint draws them."""

    __slots__ = ("buf", "model", "pos", "rng", "start")

    def __init__(self, model: DemandModel, rng: np.random.Generator) -> None:
        self.model, self.rng = model, rng
        self.buf = np.empty(0, dtype=np.int64)
        self.pos = self.start = 0

    def take(self, n: int) -> np.ndarray:
        """The next ``n`` periods' demand (units)."""
        if self.pos == len(self.buf) and n == BLOCK:  # aligned: one fresh block
            self._draw()
            self.pos = BLOCK
            return self.buf
        parts = []
        while n > 0:
            if self.pos == len(self.buf):
                self._draw()
            k = min(n, len(self.buf) - self.pos)
            parts.append(self.buf[self.pos : self.pos + k])
            self.pos += k
            n -= k
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _draw(self) -> None:
        self.start += len(self.buf)
        self.buf = np.asarray(self.model.sample(self.rng, self.start, BLOCK), dtype=np.int64)
        self.pos = 0


class DemandStreams:
    """Demand (units, int64) of B stocking points, one row of B values per period."""

    def __init__(self, models: Sequence[DemandModel], shared: bool) -> None:
        self.models = list(models)
        self.n = len(self.models)
        self.shared = shared
        self._streams: list[_Stream | None] = [None] * self.n
        self._rng: np.random.Generator | None = None
        self._next_start = np.zeros(self.n, dtype=np.int64)  # shared mode: period of the next refill's row 0
        groups: dict[int, list[int]] = {}
        for i, m in enumerate(self.models):
            groups.setdefault(id(m), []).append(i)
        self._groups = [np.asarray(g) for g in groups.values()]
        self._alias: dict[int, AliasSampler] = {}
        if shared:
            for g in self._groups:  # one sampler per distinct model (a replicated config: one in all)
                m = self.models[int(g[0])]
                pmf = m.pmf() if m.stationary else None
                if pmf is not None:
                    self._alias[id(m)] = AliasSampler(pmf)
        # Rows (periods) per refill: the SimPy engine's block in exact mode; in shared mode with alias
        # samplers only, about 2^18 values, so that the buffer stays in cache for large batches.
        fast = shared and all(id(m) in self._alias for m in self.models)
        self.rows = max(16, min(BLOCK, 2**18 // max(self.n, 1))) if fast else BLOCK
        self.buf = np.zeros((self.rows, self.n), dtype=np.int64)
        self.row = self.rows

    def restart(self) -> None:
        """Drop the buffered periods: every stocking point is about to be reset."""
        self.row = self.rows

    def reset(self, index: np.ndarray, rngs: Sequence[np.random.Generator] | None, rng: Any = None) -> None:
        """Start new episodes at stocking points ``index``.

        Their own generators ``rngs`` in exact mode; in shared mode the shared generator ``rng``
        (None continues the current one).
        """
        left = self.rows - self.row  # buffered periods the reset stocking points must refill
        if self.shared:
            if rng is not None:
                self._rng = rng
            if left:
                self.buf[self.row :, index] = self._draw_shared(index, np.zeros(len(index), np.int64), left)
            self._next_start[index] = left
            return
        assert rngs is not None
        for k, i in enumerate(index.tolist()):
            stream = _Stream(self.models[i], rngs[k])
            self._streams[i] = stream
            if left:
                self.buf[self.row :, i] = stream.take(left)

    def next(self) -> np.ndarray:
        """Demand of the current period at every stocking point ((B,), a fresh array)."""
        if self.row == self.rows:
            self._refill()
        out = self.buf[self.row].copy()  # the buffer is refilled in place later
        self.row += 1
        return out

    def _refill(self) -> None:
        if self.shared:
            self._draw_shared(np.arange(self.n), self._next_start, self.rows, out=self.buf)
            self._next_start += self.rows
        elif self.n:
            np.stack([s.take(self.rows) for s in self._streams], axis=1, out=self.buf)  # type: ignore[union-attr]
        self.row = 0

    def _draw_shared(self, index: np.ndarray, starts: np.ndarray, n: int, out: Any = None) -> np.ndarray:
        """Draw (n, len(index)) demand from the shared generator.

        An alias sampler per stationary model, else one call per stocking point (its own periods
        ``starts[k] ..``).
        """
        if out is None:
            out = np.empty((n, len(index)), dtype=np.int64)
        if n == 0 or len(index) == 0:
            return out
        if len(self._groups) == 1 and len(index) == self.n:  # one model everywhere: no column shuffling
            self._draw_group(self.models[0], out, starts)
            return out
        pos = {int(i): k for k, i in enumerate(index.tolist())}
        for group in self._groups:
            cols = np.asarray([pos[i] for i in group.tolist() if i in pos], dtype=np.int64)
            if len(cols):
                part = np.empty((n, len(cols)), dtype=np.int64)
                self._draw_group(self.models[int(group[0])], part, starts[cols])
                out[:, cols] = part
        return out

    def _draw_group(self, model: DemandModel, out: np.ndarray, starts: np.ndarray) -> None:
        rng = self._rng
        assert rng is not None, "shared demand stream used before a seeded reset"
        sampler = self._alias.get(id(model))
        if sampler is None:
            for c in range(out.shape[1]):
                out[:, c] = model.sample(rng, int(starts[c]), out.shape[0])
            return
        step = max(1, 2**16 // max(out.shape[1], 1))  # chunks of ~64k draws: temporaries stay in cache
        for r in range(0, out.shape[0], step):
            out[r : r + step] = sampler.sample(rng, out[r : r + step].shape)


class LeadStreams:
    """Lead times (whole periods, int64) of B stocking points, one drawn per order placed.

    Stocking points with a fixed lead time never draw; the others read their block of BLOCK lead
    times in order and draw the next block when it is used up (the SimPy engine's sequence).
    """

    def __init__(self, models: Sequence[LeadTimeModel], shared: bool) -> None:
        self.models = list(models)
        self.n = len(self.models)
        self.shared = shared
        self._fixed = np.asarray(
            [m.fixed if m.fixed is not None else -1 for m in self.models], dtype=np.int64
        )
        self._random = np.flatnonzero(self._fixed < 0)
        self.buf = np.repeat(np.maximum(self._fixed, 0)[:, None], BLOCK, axis=1)
        self.pos = np.zeros(self.n, dtype=np.int64)
        self._rngs: list[np.random.Generator | None] = [None] * self.n
        self._rng: np.random.Generator | None = None
        self._rows = np.arange(self.n)
        self.longest = int(self.buf.max(initial=0))

    def reset(self, index: np.ndarray, rngs: Sequence[np.random.Generator] | None, rng: Any = None) -> None:
        """New episodes at stocking points ``index`` (generators as in :meth:`DemandStreams.reset`)."""
        if self.shared and rng is not None:
            self._rng = rng
        if not self.shared:
            assert rngs is not None
            for k, i in enumerate(index.tolist()):
                self._rngs[i] = rngs[k]
        self._draw(index)

    def next(self, placed: np.ndarray) -> np.ndarray:
        """Lead time of an order at every stocking point ((B,)); those with ``placed`` use theirs up."""
        leads = self.buf[self._rows, self.pos]
        self.pos += placed
        done = self.pos == BLOCK
        if done.any():
            self._draw(np.flatnonzero(done))
        return leads

    def _draw(self, index: np.ndarray) -> None:
        """Start the stocking points ``index`` on a new block (fixed lead times: the same constant)."""
        self.pos[index] = 0
        index = index[self._fixed[index] < 0]
        if len(index) == 0:
            return
        if self.shared:
            assert self._rng is not None, "shared lead-time stream used before a seeded reset"
            for group_model in {id(self.models[i]): self.models[i] for i in index.tolist()}.values():
                rows = np.asarray([i for i in index.tolist() if self.models[i] is group_model])
                draws = group_model.sample(self._rng, BLOCK * len(rows)).reshape(len(rows), BLOCK)
                self.buf[rows] = draws.astype(np.int64)
        else:
            for i in index.tolist():
                rng = self._rngs[i]
                assert rng is not None, "exact lead-time stream used before its reset"
                self.buf[i] = self.models[i].sample(rng, BLOCK).astype(np.int64)
        self.longest = max(self.longest, int(self.buf[index].max()))
