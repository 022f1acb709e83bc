"""Nelder-Mead minimisation of many independent problems at once, vectorised over the batch.

Fitting a forecaster to each of hundreds of short series is hundreds of small optimisations whose
objective is a loop over time. Evaluating the objective for every problem of the batch in one pass of
that loop (NumPy arrays across the batch) costs little more than evaluating it for one, so the
simplex steps of all problems advance together: each iteration evaluates the reflected point of every
simplex and then one expansion or contraction point, with per-problem masks deciding which point is
kept (Nelder & Mead 1965, Comput. J. 7:308; the adaptive coefficients of Gao & Han 2012, Comput.
Optim. Appl. 51:259, which behave better than the classic ones beyond two dimensions).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: f(points (k, d), rows (k,)) -> values (k,): the objectives of problems ``rows`` at those points.
Objective = Callable[[np.ndarray, np.ndarray], np.ndarray]


def batched_nelder_mead(
    f: Objective,
    x0: np.ndarray,
    step: np.ndarray | float = 0.5,
    max_iter: int = 200,
    ftol: float = 1e-7,
) -> tuple[np.ndarray, np.ndarray]:
    """Minimise B independent functions of d variables; returns (x (B, d), f(x) (B,)).

    Args:
        f: maps points (k, d) and problem numbers (k,) to values (k,): entry i is the objective of
            problem rows[i] at point i. Only problems still moving are evaluated. Non-finite values
            count as +inf.
        x0: starting points (B, d).
        step: initial simplex edge along each coordinate (scalar or (d,)).
        max_iter: iterations at most (each costs two or three evaluations of ``f``).
        ftol: a problem stops moving once its simplex's values differ by less than
            ftol * (1 + |best|).
    """
    x0 = np.asarray(x0, dtype=float)
    b, d = x0.shape
    rho, chi, psi, sigma = 1.0, 1.0 + 2.0 / d, 0.75 - 1.0 / (2.0 * d), 1.0 - 1.0 / d
    simplex = np.repeat(x0[:, None, :], d + 1, axis=1)
    simplex[:, 1:, :] += np.eye(d)[None] * np.broadcast_to(np.asarray(step, dtype=float), (d,))
    rows = np.arange(b)
    values = np.stack([_clean(f(simplex[:, j, :], rows)) for j in range(d + 1)], axis=1)
    for _ in range(max_iter):
        order = np.argsort(values, axis=1)
        simplex = np.take_along_axis(simplex, order[:, :, None], axis=1)
        values = np.take_along_axis(values, order, axis=1)
        with np.errstate(invalid="ignore"):
            spread = values[:, -1] - values[:, 0]
        done = spread <= ftol * (1.0 + np.abs(values[:, 0]))
        if done.all():
            break
        live = rows[~done]
        sx, sv = simplex[live], values[live]
        centroid = sx[:, :-1, :].mean(axis=1)
        worst = sx[:, -1, :]
        xr = centroid + rho * (centroid - worst)
        fr = _clean(f(xr, live))
        expand = fr < sv[:, 0]
        outside = (fr >= sv[:, -2]) & (fr < sv[:, -1])
        inside = fr >= sv[:, -1]
        # One more evaluation: expansion where the reflection was best, contraction where it failed.
        coef = np.where(expand, rho * chi, np.where(outside, rho * psi, -psi))[:, None]
        xc = centroid + coef * (centroid - worst)
        fc = _clean(f(xc, live))
        take_e = expand & (fc < fr)
        take_r = (~(expand | outside | inside)) | (expand & ~take_e)
        take_c = (outside & (fc <= fr)) | (inside & (fc < sv[:, -1]))
        keep = take_e | take_r | take_c
        new_x = np.where((take_e | take_c)[:, None], xc, xr)
        new_f = np.where(take_e | take_c, fc, fr)
        simplex[live[keep], -1, :] = new_x[keep]
        values[live[keep], -1] = new_f[keep]
        _shrink(f, simplex, values, live[~keep], sigma)
    i = np.argmin(values, axis=1)
    return simplex[rows, i, :], values[rows, i]


def _shrink(f: Objective, simplex: np.ndarray, values: np.ndarray, rows: np.ndarray, sigma: float) -> None:
    """Shrink the simplices of problems ``rows`` towards their best vertex (in place)."""
    if not len(rows):
        return
    best = simplex[rows, :1, :]
    simplex[rows] = best + sigma * (simplex[rows] - best)
    for j in range(1, simplex.shape[1]):
        values[rows, j] = _clean(f(simplex[rows, j, :], rows))


def _clean(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values), values, np.inf)
