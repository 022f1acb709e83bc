"""An LSTM forecaster in torch, trained globally: one network for every series of a panel.

Each training example is a window of the last L = ``window`` values of one series (default two
seasons) and the next H = ``horizon`` values, both divided by the window's mean level s (so series of
any size share one network), with the calendar position of each input period as sin / cos of
2 pi (t mod m) / m. An LSTM (Hochreiter & Schmidhuber 1997, Neural Comput. 9:1735) reads the
window; a linear layer maps its last hidden state to the H scaled future values (direct multi-step
output, as in Smyl's M4 winner, Int. J. Forecasting 36:75, without its exponential smoothing
front end). Training minimises the mean absolute scaled error with Adam over every window of every
series; forecasts beyond H periods feed the network its own forecasts, H periods at a time.

Cost: with the defaults (hidden size 64, 40 epochs, batches of 256) about 10^4 windows of the 474
M3 series train in well under a minute on two CPU threads; ``threads`` caps torch's intra-op
threads while training. ``seed`` fixes the initial weights and the order of the batches (torch's
generator is forked, so the global random state is untouched): same data and seed, same forecasts.

Spreads: the root mean squared in-sample one-step error of the series, for every horizon.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stocklab.envs.core.errors import ConfigError, DataError
from stocklab.envs.forecast.base import Forecaster

LEVEL_FLOOR = 1e-3


def _torch() -> Any:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch comes with the rl extra
        raise ConfigError("forecaster 'lstm' needs torch: pip install 'stocklab[rl]'") from None
    return torch


def windows(
    ys: list[np.ndarray], length: int, horizon: int, season: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs (N, L, 3), targets (N, H) and levels (N,) of every full window of every series."""
    xs, ts, levels = [], [], []
    for y in ys:
        last = len(y) - horizon  # the window may end at period last - 1
        if last < length:
            continue
        ends = np.arange(length, last + 1)
        x, lv = inputs(y, ends, length, season)
        xs.append(x)
        levels.append(lv)
        ts.append(y[ends[:, None] + np.arange(horizon)[None, :]] / lv[:, None])
    if not xs:
        return np.empty((0, length, 3)), np.empty((0, horizon)), np.empty(0)
    return np.concatenate(xs), np.concatenate(ts), np.concatenate(levels)


def inputs(y: np.ndarray, ends: np.ndarray, length: int, season: int) -> tuple[np.ndarray, np.ndarray]:
    """Scaled windows y[e - L : e] / s with calendar features (N, L, 3), and their levels s (N,)."""
    # A series shorter than the window is padded with its first value.
    idx = np.maximum(ends[:, None] - length + np.arange(length)[None, :], 0)
    raw = y[idx]
    level = np.maximum(raw.mean(axis=1), LEVEL_FLOOR)
    angle = 2.0 * np.pi * (idx % season) / season if season > 1 else np.zeros_like(raw)
    return np.stack([raw / level[:, None], np.sin(angle), np.cos(angle)], axis=2), level


@dataclass
class _Shared:
    """The network all series of one ``fit_many`` share, and forecasts already computed by horizon."""

    net: Any
    length: int
    horizon: int
    season: int
    threads: int
    members: list[LSTM] = field(default_factory=list)
    cache: dict[int, np.ndarray] = field(default_factory=dict)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Network outputs (N, H) for inputs (N, L, 3)."""
        torch = _torch()
        with _threads(torch, self.threads), torch.no_grad():
            return self.net(torch.as_tensor(x, dtype=torch.float32)).numpy().astype(float)

    def forecasts(self, h: int) -> np.ndarray:
        """Forecasts (members x h) of every member, H periods per network call."""
        if h not in self.cache:
            paths = [m.y.copy() for m in self.members]
            while len(paths[0]) - len(self.members[0].y) < h:
                batch = [inputs(p, np.array([len(p)]), self.length, self.season) for p in paths]
                out = self.run(np.concatenate([b[0] for b in batch]))
                levels = np.concatenate([b[1] for b in batch])
                nxt = np.maximum(out * levels[:, None], 0.0)
                paths = [np.concatenate([p, row]) for p, row in zip(paths, nxt)]
            self.cache[h] = np.array([p[len(m.y) : len(m.y) + h] for p, m in zip(paths, self.members)])
        return self.cache[h]


class _threads:
    """Context: torch's intra-op threads set to ``n`` and restored afterwards."""

    def __init__(self, torch: Any, n: int) -> None:
        self.torch, self.n = torch, n

    def __enter__(self) -> None:
        self.before = self.torch.get_num_threads()
        self.torch.set_num_threads(self.n)

    def __exit__(self, *exc: object) -> None:
        self.torch.set_num_threads(self.before)


class LSTM(Forecaster):
    """Global LSTM (module docstring).

    ``window`` (default 2 seasons, at least 8) input periods, ``horizon`` output periods, ``hidden`` units, ``epochs`` passes over the windows with batches of
    ``batch`` at learning rate ``lr``; ``threads`` torch threads; ``seed`` for weights and batches.
    """

    name = "lstm"
    global_model = True
    min_length = 8

    def __init__(
        self,
        season: int = 1,
        window: int | None = None,
        horizon: int = 18,
        hidden: int = 64,
        epochs: int = 40,
        batch: int = 256,
        lr: float = 3e-3,
        threads: int = 1,
        seed: int = 0,
    ) -> None:
        super().__init__(season)
        length = window if window is not None else max(2 * season, 8)
        for key, value in (("window", length), ("horizon", horizon), ("hidden", hidden), ("epochs", epochs),
                           ("batch", batch), ("threads", threads)):  # fmt: skip
            if int(value) < 1:
                raise ConfigError(f"lstm: {key} (={value}) must be >= 1")
        if not lr > 0:
            raise ConfigError(f"lstm: lr (={lr}) must be > 0")
        self.length, self.horizon, self.hidden = int(length), int(horizon), int(hidden)
        self.epochs, self.batch, self.lr = int(epochs), int(batch), float(lr)
        self.threads, self.seed = int(threads), int(seed)
        self.train_seconds = 0.0
        self.loss = float("nan")
        self._shared: _Shared | None = None
        self._index = 0

    @property
    def spec(self) -> str:
        """The network's shape once trained."""
        return (
            f"global LSTM({self.hidden}), window {self.length}, horizon {self.horizon}"
            if self._shared
            else ""
        )

    @classmethod
    def fit_many(cls, ys: list[np.ndarray], season: int = 1, **params: Any) -> Sequence[Forecaster]:
        """Train one network on the windows of every series; one view per series."""
        import time

        members = [cls(season, **params) for _ in ys]
        if not members:
            return []
        first = members[0]
        arrays = [m.check(y) for m, y in zip(members, ys)]
        longest = max(len(y) for y in arrays)
        if longest < first.length + first.horizon:
            # Short histories: shorten the output first (longer forecasts are then recursive), then
            # the window, keeping at least two full windows' worth of data.
            horizon = max(1, min(first.horizon, longest - first.length - 1))
            length = max(4, min(first.length, (longest - horizon) // 2))
            for m in members:
                m.length, m.horizon = length, horizon
        x, target, _ = windows(arrays, first.length, first.horizon, season)
        if len(x) == 0:
            raise DataError(
                f"lstm: no series has the {first.length + first.horizon} periods a training window needs"
            )
        start = time.perf_counter()
        net, loss = first._train(x, target)
        shared = _Shared(net, first.length, first.horizon, season, first.threads, members)
        for i, (member, y) in enumerate(zip(members, arrays)):
            member.y, member._shared, member._index = y, shared, i
            member.train_seconds, member.loss = time.perf_counter() - start, loss
            member.fitted = member._in_sample()
        return members

    def _fit(self, y: np.ndarray) -> np.ndarray:
        params = {k: getattr(self, a) for k, a in (("window", "length"), ("horizon", "horizon"),
                  ("hidden", "hidden"), ("epochs", "epochs"), ("batch", "batch"), ("lr", "lr"),
                  ("threads", "threads"), ("seed", "seed"))}  # fmt: skip
        other = type(self).fit_many([y], self.season, **params)[0]
        self.__dict__.update(other.__dict__)
        self._shared.members[0] = self  # type: ignore[union-attr]
        return self.fitted

    def _train(self, x: np.ndarray, target: np.ndarray) -> tuple[Any, float]:
        """Adam on the mean absolute error of the scaled targets; returns the network and last loss."""
        torch = _torch()
        with torch.random.fork_rng(devices=[]), _threads(torch, self.threads):
            torch.manual_seed(self.seed)
            net = _Net(torch, self.hidden, self.horizon)
            opt = torch.optim.Adam(net.parameters(), lr=self.lr)
            gen = torch.Generator().manual_seed(self.seed)
            xt, tt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(target, dtype=torch.float32)
            loss_value = float("nan")
            for _ in range(self.epochs):
                order = torch.randperm(len(xt), generator=gen)
                total = 0.0
                for k in range(0, len(xt), self.batch):
                    idx = order[k : k + self.batch]
                    opt.zero_grad()
                    loss = (net(xt[idx]) - tt[idx]).abs().mean()
                    loss.backward()
                    opt.step()
                    total += loss.item() * len(idx)
                loss_value = total / len(xt)
            net.eval()
        return net, loss_value

    def _in_sample(self) -> np.ndarray:
        """One-step forecasts of periods L .. n - 1 from the window before each."""
        assert self._shared is not None
        fitted = np.full(len(self.y), np.nan)
        if len(self.y) > self.length:
            ends = np.arange(self.length, len(self.y))
            x, level = inputs(self.y, ends, self.length, self.season)
            fitted[ends] = np.maximum(self._shared.run(x)[:, 0] * level, 0.0)
        return fitted

    def predict(self, h: int) -> np.ndarray:
        """Forecasts of the next ``h`` periods (units), never below 0."""
        assert self._shared is not None
        return self._shared.forecasts(h)[self._index].copy()


def _Net(torch: Any, hidden: int, horizon: int) -> Any:  # noqa: N802 - builds a torch module
    """LSTM(3 -> hidden) followed by a linear map of the last hidden state to ``horizon`` outputs."""

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(3, hidden, batch_first=True)
            self.head = torch.nn.Linear(hidden, horizon)

        def forward(self, x: Any) -> Any:
            out, _ = self.lstm(x)
            return self.head(out[:, -1, :])

    return Net()
