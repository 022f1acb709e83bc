"""The vectorised forecasters against independent oracles: ETS against the textbook recursions (Hyndman
et al. 2008, Table 2.3, in their epsilon form) and on series simulated with known parameters; the
Theta method against Hyndman & Billah's closed form and least squares; the combination on hand-made
forecasts; the guard on a series built to make ETS forecast below 0; lead-time quantiles on series
with a known distribution; the batched Nelder-Mead on quadratics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stocklab.envs import ConfigError
from stocklab.envs.forecast.base import make_forecaster
from stocklab.envs.forecast.ets import ETS, SPECS, Candidate, Spec, sane, smooth
from stocklab.envs.forecast.optim import batched_nelder_mead
from stocklab.envs.forecast.panel import fit_panel
from stocklab.envs.forecast.quantiles import (
    bootstrap_quantile,
    conformal_offsets,
    conformal_rank_quantile,
    pinball_loss,
)
from stocklab.envs.forecast.theta import Theta, acf, ols_path, seasonal_indices


# ---------------------------------------------------------------------------------------- optimiser
def test_batched_nelder_mead_finds_the_minima_of_independent_quadratics():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 2, size=(50, 3))

    def f(x, rows):
        return ((x - centres[rows]) ** 2 * np.array([1.0, 4.0, 9.0])).sum(axis=1)

    x, values = batched_nelder_mead(f, np.zeros((50, 3)), 1.0, max_iter=400, ftol=1e-14)
    np.testing.assert_allclose(x, centres, atol=1e-4)
    assert values.max() < 1e-7


# ------------------------------------------------------------------------------------------------- ETS
def textbook(y, m, spec, a, b, g, phi, level, trend, seasons):
    """Hyndman et al. (2008) Table 2.3 written with eps_t (additive: y - mu; multiplicative: (y - mu) / mu)."""
    s = list(seasons)
    damp = phi if spec.trend == "Ad" else 1.0
    bt = trend if spec.trend != "N" else 0.0
    fitted = []
    for t, yt in enumerate(y):
        j = t % m
        sj = s[j]
        lb = level + damp * bt
        mu = lb * sj if spec.season == "M" else lb + (sj if spec.season == "A" else 0.0)
        fitted.append(mu)
        e = yt - mu if spec.error == "A" else (yt - mu) / mu
        if spec.error == "A":
            q = e / sj if spec.season == "M" else e
            level, bt2 = lb + a * q, damp * bt + b * q
            if spec.season == "A":
                s[j] = sj + g * e
            elif spec.season == "M":
                s[j] = sj + g * e / lb
        elif spec.season == "A":
            level, bt2 = lb + a * mu * e, damp * bt + b * mu * e
            s[j] = sj + g * mu * e
        else:
            level, bt2 = lb * (1 + a * e), damp * bt + b * lb * e
            if spec.season == "M":
                s[j] = sj * (1 + g * e)
        bt = bt2 if spec.trend != "N" else 0.0
    return np.array(fitted), level, bt, np.array(s)


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_ets_recursions_match_the_textbook_equations(spec):
    rng = np.random.default_rng(1)
    m, n = 4, 40
    t = np.arange(n)
    y = 50 + 0.5 * t + np.array([5.0, -3, 2, -4])[t % 4] + rng.normal(0, 2, n)
    seasons = (np.array([1.1, 0.94, 1.04, 0.92]) if spec.season == "M"
               else np.array([5.0, -3, 2, -4]) if spec.season == "A" else np.zeros(4))  # fmt: skip
    if spec.season == "N":
        seasons = np.ones(4) if spec.season == "M" else np.zeros(4)
    params = dict(alpha=0.35, beta=0.1, gamma=0.2, phi=0.9)
    cand = smooth(y, m, spec, level=48.0, trend=0.4, seasons=seasons, **params)
    fitted, level, trend, s = textbook(y, m, spec, 0.35, 0.1, 0.2, 0.9, 48.0, 0.4, seasons)
    np.testing.assert_allclose(cand.fitted, fitted, rtol=1e-9)
    assert cand.level == pytest.approx(level, rel=1e-9)
    assert cand.trend == pytest.approx(trend, rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(cand.seasons, s, rtol=1e-9)
    # Forecasts: (l + (phi + .. + phi^h) b) combined with the state of position (n - 1 + h) mod m.
    h = np.arange(1, 9)
    damp = 0.9 if spec.trend == "Ad" else 1.0
    base = level + np.cumsum(damp**h) * trend
    pos = s[(n - 1 + h) % m]
    expected = base * pos if spec.season == "M" else base + (pos if spec.season == "A" else 0.0)
    np.testing.assert_allclose(cand.forecast(8), expected, rtol=1e-9)


def simulate_ets(n, m, alpha, gamma, sigma, seed):
    """ETS(A,N,A): y_t = l + s + e, l += alpha e, s += gamma e."""
    rng = np.random.default_rng(seed)
    level, seasons = 100.0, np.array([8.0, -5.0, 3.0, -6.0])[:m]
    y = np.empty(n)
    for t in range(n):
        e = rng.normal(0, sigma)
        y[t] = level + seasons[t % m] + e
        level += alpha * e
        seasons[t % m] += gamma * e
    return y


def test_ets_recovers_known_parameters_and_chooses_the_true_family():
    y = simulate_ets(500, 4, alpha=0.3, gamma=0.15, sigma=2.0, seed=3)
    model = ETS(season=4, multiplicative=False).fit(y)
    assert model.spec == "A,N,A"
    assert model.chosen.alpha == pytest.approx(0.3, abs=0.06)
    assert model.chosen.gamma == pytest.approx(0.15, abs=0.06)
    assert model.chosen.sigma == pytest.approx(2.0, rel=0.1)
    # A series without season and trend: simple exponential smoothing wins by AICc.
    rng = np.random.default_rng(4)
    walk = 100 + np.cumsum(rng.normal(0, 1, 150)) * 0.4 + rng.normal(0, 1, 150)
    assert ETS(season=12, multiplicative=False).fit(walk).spec == "A,N,N"


@pytest.mark.slow
def test_ets_batch_equals_one_at_a_time_and_any_number_of_jobs():
    rng = np.random.default_rng(5)
    ys = [simulate_ets(60 + 7 * i, 4, 0.2, 0.1, 1.5, seed=i) + rng.normal(0, 1) for i in range(3)]
    batch = ETS.fit_many(ys, 4)
    alone = [ETS(4).fit(y) for y in ys]
    two = fit_panel("ets", ys, 4, jobs=2, chunks=3)
    for a, b, c in zip(batch, alone, two):
        assert a.spec == b.spec == c.spec
        np.testing.assert_allclose(a.predict(12), b.predict(12))
        np.testing.assert_allclose(a.predict(12), c.predict(12))


# ----------------------------------------------------------------------------------------------- guard
def test_guard_refuses_a_forecast_out_of_range_and_takes_the_next_model():
    y = np.full(30, 10.0)
    m = 1
    exploding = Candidate(Spec("A", "A", "N"), 0.5, 0.1, 0.0, 1.0, 10.0, 20.0, np.zeros(m), 30, 1.0, 10.0)
    falling = Candidate(Spec("A", "A", "N"), 0.5, 0.1, 0.0, 1.0, 10.0, -2.0, np.zeros(m), 30, 1.0, 11.0)
    flat = Candidate(Spec("A", "N", "N"), 0.5, 0.0, 0.0, 1.0, 10.0, 0.0, np.zeros(m), 30, 1.0, 12.0)
    model = ETS(1)
    model.adopt(y, [exploding, falling, flat])
    assert model.chosen is flat
    assert len(model.notes) == 2 and "> 10 x max" in model.notes[0] and "< 0" in model.notes[1]
    np.testing.assert_array_equal(model.predict(30), np.full(30, 10.0))
    assert sane(np.array([0.0, 99.0]), y) == "" and sane(np.array([101.0]), y) != ""


def test_guard_on_a_series_built_to_make_ets_forecast_below_zero():
    # Steady at 100, then a steep fall to 4: a trend model's forecast runs below 0 within 24 periods.
    y = np.concatenate([np.full(40, 100.0), np.linspace(90, 4, 10)])
    model = ETS(1, undamped=True).fit(y)
    assert model.notes, "the best models by AICc forecast below 0 and must be refused"
    assert all("refused" in note for note in model.notes)
    forecast = model.predict(24)
    assert forecast.min() >= 0 and forecast.max() <= 10 * y.max()
    refused = [c for c in model.candidates if sane(c.forecast(24), y)]
    assert refused and refused[0].aicc < model.chosen.aicc


def test_guard_on_a_series_built_to_make_ets_forecast_above_ten_times_its_max():
    # Flat at 1, then a geometric climb to 100 in 6 periods (+46 in the last one): a trend model
    # carries it on, and damped at phi = 0.98 it still adds sum_{j=1}^{24} 0.98^j = 18.9 periods'
    # worth of trend, past 10 x 100 within 24 periods. The next model without a trend is sane.
    y = np.concatenate([np.full(30, 1.0), np.geomspace(2, 100, 6)])
    model = ETS(1).fit(y)
    assert model.notes and all("> 10 x max 100" in note for note in model.notes)
    refused = sorted((c for c in model.candidates if sane(c.forecast(24), y)), key=lambda c: c.aicc)
    assert refused and refused[0].aicc < model.chosen.aicc and refused[0].spec.trend == "Ad"
    assert refused[0].forecast(24).max() > 1000.0
    forecast = model.predict(24)
    assert forecast.min() >= 0 and forecast.max() <= 1000.0


# ---------------------------------------------------------------------------------------------- theta
def test_ols_path_is_least_squares_on_every_prefix():
    y = np.random.default_rng(6).normal(10, 3, 30)
    a, b = ols_path(y)
    for t in range(2, 31):
        slope, intercept = np.polyfit(np.arange(1, t + 1), y[:t], 1)
        assert b[t - 1] == pytest.approx(slope) and a[t - 1] == pytest.approx(intercept)


def test_theta_is_ses_plus_half_the_trend_hyndman_billah():
    rng = np.random.default_rng(7)
    n = 60
    y = 20 + 0.8 * np.arange(n) + rng.normal(0, 3, n)
    model = Theta(season=1).fit(y)
    # Hyndman & Billah (2003): yhat_{n+h} = l_n + (b / 2)(h - 1 + (1 - (1 - alpha)^n) / alpha), l_n
    # simple exponential smoothing from l_0 with the fitted alpha, b the least squares slope.
    alpha, level = model.alpha, model.level0
    for value in y:
        level = alpha * value + (1 - alpha) * level
    b = np.polyfit(np.arange(n), y, 1)[0]
    h = np.arange(1, 13)
    expected = level + b / 2 * (h - 1 + (1 - (1 - alpha) ** n) / alpha)
    np.testing.assert_allclose(model.predict(12), expected, rtol=1e-9)


def simulate_dotm(n, alpha, theta, sigma, seed):
    """The dynamic optimised Theta model (Fiorucci et al. 2016) as a generator of data."""
    rng = np.random.default_rng(seed)
    y = np.empty(n)
    y[0] = 100 + rng.normal(0, sigma)
    level = alpha * y[0] + (1 - alpha) * 100
    a, b, mean = y[0], 0.0, y[0]
    for t in range(1, n):  # t observations seen
        mu = level + (1 - 1 / theta) * (a * (1 - alpha) ** t + b * (1 - (1 - alpha) ** (t + 1)) / alpha)
        y[t] = mu + rng.normal(0, sigma)
        level = alpha * y[t] + (1 - alpha) * level
        b = ((t - 1) * b + 6 * (y[t] - mean) / (t + 1)) / (t + 2)
        mean = (t * mean + y[t]) / (t + 1)
        a = mean - b * (t + 2) / 2
    return y


def test_dynamic_optimised_theta_recovers_known_parameters():
    y = simulate_dotm(1000, alpha=0.4, theta=3.0, sigma=1.0, seed=8)
    model = Theta(season=1, variant="dotm").fit(y)
    assert model.alpha == pytest.approx(0.4, abs=0.05)
    assert model.theta == pytest.approx(3.0, abs=0.6)
    assert model.sigma_x == pytest.approx(1.0, rel=0.08)


def test_theta_deseasonalises_a_seasonal_series():
    t = np.arange(96)
    pattern = np.array([1.3, 1.1, 0.9, 0.7, 0.8, 1.0, 1.2, 1.25, 1.05, 0.95, 0.85, 0.9])
    pattern = pattern / pattern.mean()
    y = 100 * pattern[t % 12] * (1 + np.random.default_rng(9).normal(0, 0.01, 96))
    assert abs(acf(y, 12)[-1]) > 0.5
    np.testing.assert_allclose(seasonal_indices(y, 12), pattern, atol=0.02)
    forecast = Theta(season=12).fit(y).predict(12)
    np.testing.assert_allclose(forecast, 100 * pattern[(96 + np.arange(12)) % 12], rtol=0.04)


# ---------------------------------------------------------------------------------------- combination
def test_combination_is_the_mean_or_median_of_its_members_by_hand():
    y = np.array([1.0, 3, 2, 4, 3, 5, 4, 6])
    mean = make_forecaster("combo", 2, members=["naive", "seasonal_naive"]).fit(y)
    # naive: 6, 6, 6; seasonal naive (m = 2): 4, 6, 4.
    np.testing.assert_allclose(mean.predict(3), [5, 6, 5])
    median = make_forecaster(
        "combo", 2, members=["naive", "seasonal_naive", "moving_average"], method="median"
    ).fit(y)
    # moving average of the last 3: (6 + 4 + 5) / 3 = 5 -> medians of (6, 4, 5), (6, 6, 5), (6, 4, 5).
    np.testing.assert_allclose(median.predict(3), [5, 6, 5])
    with pytest.raises(ConfigError, match="Did you mean 'naive'"):
        make_forecaster("combo", 1, members=["naive", "naiv"])
    with pytest.raises(ConfigError, match="at least two"):
        make_forecaster("combo", 1, members=["naive"])


# ------------------------------------------------------------------------------------------ quantiles
def test_bootstrap_quantile_of_normal_noise_matches_the_normal_sum():
    rng = np.random.default_rng(10)
    residuals = rng.normal(0, 4, 20000)
    means = np.array([50.0, 60.0, 70.0])
    # The sum of 3 normal draws: N(180, 3 * 16); rounding and the floor at 0 change nothing here.
    for f in (0.8, 0.95):
        expected = 180 + np.sqrt(48) * {0.8: 0.841621, 0.95: 1.644854}[f]
        assert bootstrap_quantile(means, residuals, f, draws=40000) == pytest.approx(expected, abs=0.6)
    assert bootstrap_quantile(means, residuals, 0.9, seed=1) == bootstrap_quantile(
        means, residuals, 0.9, seed=1
    )


def test_conformal_quantiles_cover_lead_time_demand_of_simulated_series():
    # 400 SKUs with i.i.d. Gamma demand of different sizes; forecast = the in-sample mean; k = 3.
    rng = np.random.default_rng(11)
    sizes = rng.uniform(5, 200, 400)
    shape = 4.0
    k, calib, test = 3, 10, 10
    history = rng.gamma(shape, sizes[:, None] / shape, size=(400, 48))
    forecast = 3 * history.mean(axis=1)
    scales = history.std(axis=1)
    cal = rng.gamma(shape, sizes[:, None, None] / shape, size=(400, calib, k)).sum(axis=2)
    new = rng.gamma(shape, sizes[:, None, None] / shape, size=(400, test, k)).sum(axis=2)
    offsets = conformal_offsets(cal, forecast[:, None], scales[:, None], (0.8, 0.95))
    for f, q in offsets.items():
        coverage = np.mean(new <= forecast[:, None] + scales[:, None] * q)
        assert coverage == pytest.approx(f, abs=0.02)
    # With the true distribution's quantile the pinball loss is smallest.
    true_q = np.array([np.quantile(rng.gamma(3 * shape, s / shape, 20000), 0.9) for s in sizes[:20]])
    worse = pinball_loss(new[:20], (true_q * 1.2)[:, None], 0.9).mean()
    assert pinball_loss(new[:20], true_q[:, None], 0.9).mean() < worse


@given(st.lists(st.floats(-100, 100), min_size=1, max_size=50), st.floats(0.01, 0.99))
@settings(max_examples=60, deadline=None)
def test_conformal_rank_quantile_covers_at_least_the_fractile(scores, f):
    q = conformal_rank_quantile(np.array(scores), f)
    covered = np.mean(np.array(scores) <= q)
    assert covered >= f * len(scores) / (len(scores) + 1) - 1e-12 or q == np.inf
