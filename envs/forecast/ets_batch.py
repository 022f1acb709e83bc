"""Fitting ETS models to many series at once: one batch, one pass of the time loop per evaluation.

Every candidate (series x model) of a batch is a column of time-major arrays; the recursions of
:mod:`stocklab.envs.forecast.ets` run once over time for all of them, and a batched Nelder-Mead
(:mod:`stocklab.envs.forecast.optim`) moves every candidate's parameters together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from stocklab.envs.forecast.ets_model import EPS, FTOL, PHI_RANGE, SPECS, Candidate, Spec, initial_states
from stocklab.envs.forecast.optim import batched_nelder_mead


# ------------------------------------------------------------------------------------------- batch fit
@dataclass
class _Batch:
    """Candidates (series x model) laid out as arrays; series start at column 0 and are zero-padded."""

    m: int
    series: np.ndarray  # (B,) index of the series
    specs: list[Spec]  # (B,)
    y: np.ndarray  # (T, B): time-major, so that one period of every candidate is one contiguous row
    n: np.ndarray  # (B,), decreasing
    active: np.ndarray  # (T,): candidates observed at period t (a prefix, as n decreases)
    trend: np.ndarray  # (B,) bool
    damped: np.ndarray
    seasonal: np.ndarray
    mult_season: np.ndarray  # (B,) float 0/1
    mult_error: np.ndarray  # (B,) bool
    positive: np.ndarray  # (B,) bool: needs mu > 0
    l0: np.ndarray
    b0: np.ndarray
    s0: np.ndarray  # (B, m)
    scale: np.ndarray


def _layout(ys: list[np.ndarray], m: int, specs: tuple[Spec, ...]) -> _Batch:
    rows: list[tuple[int, Spec, tuple[float, float, np.ndarray]]] = []
    for i, y in enumerate(ys):
        inits: dict[str, tuple[float, float, np.ndarray]] = {}
        for spec in specs:
            if not allowed(spec, y, m):
                continue
            if spec.season not in inits:
                inits[spec.season] = initial_states(y, m, spec.season)
            rows.append((i, spec, inits[spec.season]))
    rows.sort(key=lambda row: -len(ys[row[0]]))
    big_t = max(len(y) for y in ys)
    b = len(rows)
    mm = max(m, 1)
    y_arr = np.zeros((b, big_t))
    s0 = np.zeros((b, mm))
    for r, (i, spec, (_, _, seasons)) in enumerate(rows):
        n = len(ys[i])
        y_arr[r, :n] = ys[i]
        s0[r] = seasons if spec.season != "N" else 0.0
    specs_b = [spec for _, spec, _ in rows]
    series = np.array([i for i, _, _ in rows], dtype=np.int64)
    lengths = np.array([len(ys[i]) for i in series])
    scale = np.array([max(float(np.std(ys[i])), 1e-3 * (1.0 + abs(float(np.mean(ys[i]))))) for i in series])
    return _Batch(
        m=mm, series=series, specs=specs_b, y=np.ascontiguousarray(y_arr.T), n=lengths,
        active=(lengths[None, :] > np.arange(big_t)[:, None]).sum(axis=1),
        trend=np.array([s.trend != "N" for s in specs_b]), damped=np.array([s.trend == "Ad" for s in specs_b]),
        seasonal=np.array([s.season != "N" for s in specs_b]),
        mult_season=np.array([1.0 if s.season == "M" else 0.0 for s in specs_b]),
        mult_error=np.array([s.error == "M" for s in specs_b]),
        positive=np.array([s.positive_only for s in specs_b]),
        l0=np.array([init[0] for _, _, init in rows]), b0=np.array([init[1] for _, _, init in rows]),
        s0=s0, scale=scale,
    )  # fmt: skip


def _subset(batch: _Batch, rows: np.ndarray) -> _Batch:
    """The candidates ``rows`` (increasing, so still by decreasing length) as a batch of their own."""
    if len(rows) == len(batch.series):
        return batch
    n = batch.n[rows]
    big_t = int(n.max()) if len(n) else 0
    return _Batch(
        m=batch.m, series=batch.series[rows], specs=[batch.specs[r] for r in rows], y=batch.y[:big_t, rows],
        n=n, active=(n[None, :] > np.arange(big_t)[:, None]).sum(axis=1), trend=batch.trend[rows],
        damped=batch.damped[rows], seasonal=batch.seasonal[rows], mult_season=batch.mult_season[rows],
        mult_error=batch.mult_error[rows], positive=batch.positive[rows], l0=batch.l0[rows], b0=batch.b0[rows],
        s0=batch.s0[rows], scale=batch.scale[rows],
    )  # fmt: skip


def allowed(spec: Spec, y: np.ndarray, m: int) -> bool:
    """Whether ``spec`` may be fitted to ``y``: positivity, two full seasons, and n > k + 1."""
    if spec.positive_only and not (y > 0).all():
        return False
    if spec.season != "N" and (m < 2 or len(y) < 2 * m):
        return False
    if spec.trend != "N" and len(y) < 4:
        return False
    return len(y) > spec.n_params(max(m, 1)) + 1


def _sigmoid(u: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(u, -30.0, 30.0)))


def _params(batch: _Batch, u: np.ndarray) -> tuple[np.ndarray, ...]:
    """Smoothing parameters and initial states from unconstrained coordinates u (B, 6)."""
    alpha = EPS + (1.0 - 2.0 * EPS) * _sigmoid(u[:, 0])
    beta = np.where(batch.trend, alpha * _sigmoid(u[:, 1]), 0.0)
    gamma = np.where(batch.seasonal, (1.0 - alpha) * _sigmoid(u[:, 2]), 0.0)
    lo, hi = PHI_RANGE
    phi = np.where(batch.damped, lo + (hi - lo) * _sigmoid(u[:, 3]), 1.0)
    level = batch.l0 + batch.scale * u[:, 4]
    trend = np.where(batch.trend, batch.b0 + 0.1 * batch.scale * u[:, 5], 0.0)
    return alpha, beta, gamma, phi, level, trend


def _run(batch: _Batch, u: np.ndarray, keep: bool = False) -> tuple[np.ndarray, dict[str, Any]]:
    """One pass of the recursions (module docstring) for every candidate.

    Returns the objective n log(mean eps^2) + 2 [M] sum log|mu| (inf where a positive model
    forecasts mu <= 0) and, with ``keep``, the final states, the mean squared eps and the one-step
    forecasts.

    Candidates are sorted by decreasing length, so the ones still observed at period t are a prefix
    of the batch: each step updates that prefix only, and a finished candidate keeps its final states.
    """
    alpha, beta, gamma, phi, level, trend = _params(batch, u)
    seasons = np.array(batch.s0.T, order="C")  # (m, B), a copy: one row per position in the season
    fm = batch.mult_season
    fa = 1.0 - fm
    big_t, b_rows = batch.y.shape
    sse, sse_rel, slog = np.zeros(b_rows), np.zeros(b_rows), np.zeros(b_rows)
    prod = np.ones(b_rows)
    low = np.full(b_rows, np.inf)
    m, y, active = batch.m, batch.y, batch.active
    fitted = np.full((big_t, b_rows), np.nan) if keep else None
    for t in range(big_t):
        k = active[t]
        s = seasons[t % m, :k]
        lb = level[:k] + phi[:k] * trend[:k]
        sm = fa[:k] + fm[:k] * s
        mu = lb * sm + fa[:k] * s
        r = y[t, :k] - mu
        sse[:k] += r * r
        rel = r / mu
        sse_rel[:k] += rel * rel
        # sum log|mu| through a running product: one log every 8 periods instead of every period
        prod[:k] *= np.abs(mu)
        if t % 8 == 7:
            slog += np.log(prod)
            prod[:] = 1.0
        np.minimum(low[:k], mu, out=low[:k])
        q = r / sm
        level[:k] = lb + alpha[:k] * q
        trend[:k] = phi[:k] * trend[:k] + beta[:k] * q
        s += gamma[:k] * r * (fa[:k] + fm[:k] / lb)
        if fitted is not None:
            fitted[t, :k] = mu
    slog += np.log(prod)
    n = batch.n
    with np.errstate(divide="ignore", invalid="ignore"):
        obj = np.where(batch.mult_error, n * np.log(sse_rel / n) + 2.0 * slog, n * np.log(sse / n))
    obj = np.where(batch.positive & ~(low > 0), np.inf, obj)
    out: dict[str, Any] = {}
    if keep:
        out = {
            "level": level, "trend": trend, "seasons": seasons.T, "mse": np.where(batch.mult_error, sse_rel, sse) / n,
            "fitted": fitted.T if fitted is not None else None, "alpha": alpha, "beta": beta, "gamma": gamma,
            "phi": phi,
        }  # fmt: skip
    return obj, out


#: Starting point of the optimisation: alpha 0.2, beta = 0.1 alpha, gamma = 0.05 (1 - alpha),
#: phi 0.95, the heuristic initial states; and the initial simplex steps (unconstrained units).
_U0 = np.array([np.log(0.2 / 0.8), np.log(0.1 / 0.9), np.log(0.05 / 0.95), np.log(0.15 / 0.03), 0.0, 0.0])
_STEP = np.array([1.5, 1.5, 1.5, 1.5, 0.3, 0.3])


def _optimise(batch: _Batch, max_iter: int) -> np.ndarray:
    """Maximum likelihood coordinates u (B, 6) of every candidate, in one batched Nelder-Mead.

    Coordinates a model does not have (beta without trend, ...) are left in the simplex: they do not
    change its objective, and one batch for all models costs far less than one per model type.
    """
    u0 = np.tile(_U0, (len(batch.series), 1))
    u, _ = batched_nelder_mead(
        lambda x, rows: _run(_subset(batch, rows), x)[0], u0, _STEP, max_iter=max_iter, ftol=FTOL
    )
    return u


def fit_candidates(
    ys: list[np.ndarray], m: int, specs: tuple[Spec, ...] = SPECS, max_iter: int = 250
) -> list[list[Candidate]]:
    """Fit every allowed candidate of ``specs`` to each series; per series, the candidates by AICc.

    Series of any lengths (units per period) are fitted together in one batch. A series with no
    allowed candidate gets an empty list.
    """
    ys = [np.asarray(y, dtype=float) for y in ys]
    out: list[list[Candidate]] = [[] for _ in ys]
    if not ys:
        return out
    batch = _layout(ys, max(m, 1), specs)
    if not len(batch.series):
        return out
    u = _optimise(batch, max_iter)
    obj, st = _run(batch, u, keep=True)
    for r, spec in enumerate(batch.specs):
        if not np.isfinite(obj[r]):
            continue
        n, k = int(batch.n[r]), spec.n_params(batch.m)
        aicc = obj[r] + n * (1.0 + np.log(2.0 * np.pi)) + 2 * k + 2.0 * k * (k + 1) / max(n - k - 1, 1)
        out[int(batch.series[r])].append(
            Candidate(
                spec,
                float(st["alpha"][r]),
                float(st["beta"][r]),
                float(st["gamma"][r]),
                float(st["phi"][r]),
                float(st["level"][r]),
                float(st["trend"][r]),
                st["seasons"][r].copy(),
                n,
                float(np.sqrt(st["mse"][r])),
                float(aicc),
                st["fitted"][r, :n].copy(),
            )  # fmt: skip
        )
    for cands in out:
        cands.sort(key=lambda c: c.aicc)
    return out


def smooth(
    y: np.ndarray, m: int, spec: Spec, alpha: float, beta: float, gamma: float, phi: float,
    level: float, trend: float, seasons: np.ndarray,
) -> Candidate:  # fmt: skip
    """Run the recursions of ``spec`` with given parameters and initial states over ``y``.

    No estimation: the one-step forecasts and final states as a :class:`Candidate` (AICc left NaN).

    ``seasons`` holds the initial state of each position t mod m (0 / 1 when the model has none).
    """
    y = np.asarray(y, dtype=float)
    batch = _layout([y], max(m, 1), (spec,))
    if not len(batch.series):
        raise ValueError(f"ETS({spec}) is not allowed on this series")
    batch.l0, batch.b0 = np.array([level]), np.array([trend if spec.trend != "N" else 0.0])
    batch.s0 = np.asarray(seasons, dtype=float).reshape(1, -1)

    def logit(p: float) -> float:
        p = min(max(p, 1e-12), 1 - 1e-12)
        return float(np.log(p / (1 - p)))

    lo, hi = PHI_RANGE
    u = np.array([[
        logit((alpha - EPS) / (1 - 2 * EPS)), logit(beta / alpha) if spec.trend != "N" else 0.0,
        logit(gamma / (1 - alpha)) if spec.season != "N" else 0.0,
        logit((phi - lo) / (hi - lo)) if spec.trend == "Ad" else 0.0, 0.0, 0.0,
    ]])  # fmt: skip
    _, st = _run(batch, u, keep=True)
    return Candidate(
        spec, float(st["alpha"][0]), float(st["beta"][0]), float(st["gamma"][0]), float(st["phi"][0]),
        float(st["level"][0]), float(st["trend"][0]), st["seasons"][0].copy(), len(y),
        float(np.sqrt(st["mse"][0])), float("nan"), st["fitted"][0].copy(),
    )  # fmt: skip
