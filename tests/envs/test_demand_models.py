"""Demand models: moments against closed forms, profiles of non-stationary models, seeding, and
independence of the policy's actions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stocklab.envs import ConfigError, InventoryEnv, parse_env_config
from stocklab.envs.demand.base import pmf_moments

N = 200_000
#: Standard errors allowed between a sample moment and its exact value (a false alarm is < 1e-5).
Z = 4.5

# (config, mean, variance) from closed forms. Rounded continuous models: Sheppard's correction adds
# 1/12 to the variance of a smooth density rounded to integers (truncation at 0 is beyond 4 sd).
STATIONARY = [
    ({"dist": "poisson", "mean": 5}, 5.0, 5.0),
    ({"dist": "negative_binomial", "mean": 6, "dispersion": 2.5}, 6.0, 15.0),
    ({"dist": "gamma", "mean": 10, "std": 4}, 10.0, 16.0 + 1 / 12),
    ({"dist": "normal", "mean": 20, "std": 5}, 20.0, 25.0 + 1 / 12),
    # 0 x .2 + 3 x .5 + 7 x .3 = 3.6; E[D^2] = 4.5 + 14.7 = 19.2; var = 19.2 - 3.6^2 = 6.24
    ({"dist": "empirical", "values": [0, 3, 7], "probs": [0.2, 0.5, 0.3]}, 3.6, 6.24),
    # p E[S] = .3 x 4; p E[S^2] - (p E[S])^2 = .3 x (16 + 4) - 1.2^2 = 4.56
    ({"dist": "intermittent", "occurrence": 0.3, "size": {"dist": "poisson", "mean": 4}}, 1.2, 4.56),
]


def model(spec: dict):
    return parse_env_config({"demand": spec}).demand


def assert_moments(x: np.ndarray, mean: float, var: float) -> None:
    """Sample mean and variance within Z standard errors of (mean, var); the variance's standard
    error uses the sample's fourth central moment: Var(s^2) ~ (mu4 - var^2) / n."""
    n = len(x)
    assert abs(x.mean() - mean) < Z * math.sqrt(var / n), (x.mean(), mean)
    mu4 = np.mean((x - x.mean()) ** 4)
    assert abs(x.var() - var) < Z * math.sqrt((mu4 - x.var() ** 2) / n), (x.var(), var)


@pytest.mark.parametrize("spec,mean,var", STATIONARY, ids=lambda v: v["dist"] if isinstance(v, dict) else "")
def test_stationary_sample_moments_match_the_configuration(spec, mean, var):
    m = model(spec)
    x = m.sample(np.random.default_rng(7), 0, N)
    assert x.dtype == np.int64 and x.min() >= 0
    assert_moments(x.astype(float), mean, var)


@pytest.mark.parametrize("spec,mean,var", STATIONARY, ids=lambda v: v["dist"] if isinstance(v, dict) else "")
def test_stationary_pmf_gives_the_configured_moments(spec, mean, var):
    m = model(spec)
    assert m.stationary
    pmf = m.pmf()
    assert pmf.sum() == pytest.approx(1.0, abs=1e-12)
    pm, pv = pmf_moments(pmf)
    # Exact for discrete models; the rounded gamma / normal are within 1e-3 of the Sheppard values.
    assert pm == pytest.approx(mean, abs=1e-3)
    assert pv == pytest.approx(var, abs=2e-3)
    assert m.mean == pytest.approx(pm, abs=1e-6)  # the tail folded into the last entry moves it
    mu, sd = m.expected(3, 4)
    np.testing.assert_allclose(mu, pm)
    np.testing.assert_allclose(sd, math.sqrt(pv))


def test_empirical_pmf_is_the_table():
    m = model({"dist": "empirical", "values": [4, 1], "probs": [0.25, 0.75]})
    np.testing.assert_allclose(m.pmf(), [0, 0.75, 0, 0, 0.25])


def test_rounded_normal_pmf_by_hand():
    # P(0) = Phi((0.5 - 1) / 1) = Phi(-0.5) = 0.308538; P(1) = Phi(0.5) - Phi(-0.5) = 0.382925
    pmf = model({"dist": "normal", "mean": 1, "std": 1}).pmf()
    assert pmf[0] == pytest.approx(0.3085375, abs=1e-6)
    assert pmf[1] == pytest.approx(0.3829249, abs=1e-6)


@pytest.mark.parametrize(
    "spec,message",
    [
        ({"dist": "empirical", "values": [1, 2], "probs": [0.5]}, "same length"),
        ({"dist": "empirical", "values": [1, 2], "probs": [0.5, 0.6]}, "sum to 1"),
        ({"dist": "gamma", "mean": 3}, "std"),
        ({"dist": "intermittent", "occurrence": 1.5, "size": {"dist": "poisson", "mean": 2}}, "occurrence"),
        ({"dist": "seasonal", "base": 5, "noise": "negative_binomial"}, "dispersion"),
        ({"dist": "seasonal", "base": 5, "weekly": [1, 1, 1]}, "weekly"),
        ({"dist": "poison", "mean": 5}, "poisson"),
    ],
)
def test_bad_demand_configs_name_the_field(spec, message):
    with pytest.raises(ConfigError, match=message):
        model(spec)


# ----------------------------------------------------------------------------- non-stationary models
YEARLY = [0.6, 0.7, 0.9, 1.0, 1.1, 1.3, 1.4, 1.3, 1.1, 1.0, 0.9, 0.7]
SEASONAL = {
    "dist": "seasonal",
    "base": 20,
    "trend": 0.25,
    "yearly": YEARLY,
    "promotions": [{"start": 7, "length": 2, "uplift": 1.5}, {"start": 30, "uplift": 2.0, "every": 12}],
}


def seasonal_profile(t: np.ndarray) -> np.ndarray:
    """The configured mean, computed here from the definition: (base + trend t) x factor x uplift."""
    mu = (20 + 0.25 * t) * np.array(YEARLY)[t % 12]
    promo = ((t >= 7) & (t < 9)) * 0.5 + 1.0
    recurring = np.where((t >= 30) & ((t - 30) % 12 == 0), 2.0, 1.0)
    return mu * promo * recurring


def paths(m, runs: int, periods: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array([m.sample(rng, 0, periods) for _ in range(runs)], dtype=float)


def test_seasonal_trend_promotion_mean_follows_the_profile():
    m = model(SEASONAL)
    t = np.arange(60)
    mu = seasonal_profile(t)
    np.testing.assert_allclose(m.mean_at(t), mu)
    x = paths(m, 4000, 60)
    # Poisson: variance = mean in every period.
    z = (x.mean(axis=0) - mu) / np.sqrt(mu / len(x))
    assert np.abs(z).max() < Z
    ratio = x.var(axis=0) / mu
    assert abs(ratio.mean() - 1.0) < 0.02
    promo_lift = x[:, 7:9].mean() / (mu[7:9] / 1.5).mean()
    assert promo_lift == pytest.approx(1.5, rel=0.02)


def test_weekly_profile_negative_binomial_variance():
    weekly = [0.5, 1.0, 1.0, 1.0, 1.2, 1.6, 0.7]
    m = model(
        {"dist": "seasonal", "base": 10, "weekly": weekly, "noise": "negative_binomial", "dispersion": 3}
    )
    x = paths(m, 3000, 14)
    mu = 10 * np.array(weekly * 2)
    assert np.abs((x.mean(axis=0) - mu) / np.sqrt(3 * mu / len(x))).max() < Z
    assert x.var(axis=0).sum() / (3 * mu).sum() == pytest.approx(1.0, abs=0.04)
    mean, sd = m.expected(0, 14)
    np.testing.assert_allclose(mean, mu)
    np.testing.assert_allclose(sd, np.sqrt(3 * mu))


def test_yearly_profile_stretched_over_weekly_periods():
    # 12 monthly factors over 52 weekly periods: week w uses factor floor(12 w / 52).
    m = model({"dist": "seasonal", "base": 10, "yearly": YEARLY, "periods_per_year": 52})
    w = np.arange(104)
    np.testing.assert_allclose(m.mean_at(w), 10 * np.array(YEARLY)[(12 * (w % 52)) // 52])
    assert m.mean == pytest.approx(10 * np.array(YEARLY)[(12 * np.arange(52)) // 52].mean())


# ------------------------------------------------------------------------------------ reproducibility
ALL_SPECS = [s for s, _, _ in STATIONARY] + [
    SEASONAL,
    {"dist": "replay", "values": [3, 0, 5, 2]},
    {"dist": "history", "path": "demo", "sku": "SEASONAL", "mode": "bootstrap"},
    {"dist": "forecast_fed", "path": "demo", "sku": "TREND", "model": "naive"},
]


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s["dist"])
def test_same_seed_same_demand_other_seed_other_demand(spec):
    m = model(spec)
    a = m.sample(np.random.default_rng(11), 0, 300)
    b = m.sample(np.random.default_rng(11), 0, 300)
    np.testing.assert_array_equal(a, b)
    if spec["dist"] != "replay":
        assert not np.array_equal(a, m.sample(np.random.default_rng(12), 0, 300))


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s["dist"])
def test_demand_does_not_depend_on_the_actions(spec):
    cfg = {"demand": spec, "max_order": 50, "lead_time": 1}
    demands = []
    for policy in (lambda t: 0, lambda t: (7 * t) % 50):
        env = InventoryEnv(cfg)
        env.reset(seed=5)
        demands.append([env.step(policy(t))[4]["demand"] for t in range(200)])
    assert demands[0] == demands[1]


@settings(max_examples=200, deadline=None)
@given(
    mean=st.floats(min_value=1e-3, max_value=2_000.0, allow_nan=False),
    tol=st.sampled_from([1e-12, 1e-9, 1e-6, 1e-3]),
)
def test_poisson_law_pmf_is_scipy_stats_poisson(mean, tol):
    # validate sizes the DP without importing scipy; the DP must see the same pmf (to rounding)
    from scipy import stats

    from stocklab.envs.demand.stationary import PoissonLaw

    k = np.arange(int(mean + 12 * np.sqrt(mean)) + 40)
    np.testing.assert_allclose(PoissonLaw(mean).pmf(k), stats.poisson(mean).pmf(k), rtol=1e-10, atol=1e-300)


@settings(max_examples=60, deadline=None)
@given(
    mean=st.floats(min_value=1e-3, max_value=2_000.0, allow_nan=False),
    q=st.sampled_from([0.01, 0.3, 0.5, 0.8, 0.95, 1 - 1e-3, 1 - 1e-6, 1 - 1e-9, 1 - 1e-12]),
)
def test_poisson_law_quantile_is_exact(mean, q):
    # the oracle sums the pmf in 50-digit arithmetic; scipy's own ppf is off by one in rare cases
    # (mean 1433.234113337402, q = 1 - 1e-12: P(D > 1707) = 1.00003e-12 > 1e-12, yet it answers 1707)
    import mpmath

    from stocklab.envs.demand.stationary import PoissonLaw

    k = int(PoissonLaw(mean).ppf(q))
    with mpmath.workdps(50):
        mu = mpmath.mpf(mean)

        def cdf(n: int) -> mpmath.mpf:
            return mpmath.fsum(
                mpmath.exp(j * mpmath.log(mu) - mpmath.loggamma(j + 1) - mu) for j in range(n + 1)
            )

        target = mpmath.mpf(q)  # exactly the float q
        assert cdf(k) >= target
        assert k == 0 or cdf(k - 1) < target


def test_poisson_law_quantile_where_scipy_is_off_by_one():
    from stocklab.envs.demand.base import truncated_pmf
    from stocklab.envs.demand.stationary import PoissonLaw

    assert PoissonLaw(1433.234113337402).ppf(1 - 1e-12) == 1708
    assert len(truncated_pmf(PoissonLaw(1433.234113337402), 1e-12)) == 1710
