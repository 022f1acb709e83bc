"""Forecast-fed demand in InventoryEnv: env checkers, the forecast fields of the ObsSpec, the three
``information`` settings, demand = forecast + residual, and the benchmark command."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from typer.testing import CliRunner

from stocklab.envs import ENV_ID, ConfigError, InventoryEnv, parse_env_config
from stocklab.envs.core.obs import FORECAST_MEAN, FORECAST_STD, ObsSpec
from stocklab.envs.sales.history import load_history
from stocklab.experiments.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
FED = {"dist": "forecast_fed", "path": "demo", "sku": "SEASONAL", "model": "ets"}
INFORMATION = ["none", "forecast", "oracle_mean"]


def env_config(information: str, demand: dict | None = None, horizon: int = 4) -> dict:
    return {
        "demand": demand or FED,
        "observation": {"information": information, "forecast_horizon": horizon},
        "max_order": 80,
        "lead_time": 2,
    }


def checked(fn, env) -> None:
    """Run an env checker with every warning turned into a failure."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fn(env)


@pytest.mark.parametrize("information", INFORMATION)
def test_forecast_fed_env_passes_both_checkers(information):
    cfg = env_config(information)
    checked(gym_check_env, gym.make(ENV_ID, **cfg).unwrapped)
    checked(sb3_check_env, gym.make(ENV_ID, **cfg).unwrapped)


@pytest.mark.parametrize("information", INFORMATION)
def test_forecast_fields_in_the_obs_spec(information):
    env = InventoryEnv(env_config(information, horizon=5))
    spec = env.obs_spec
    if information == "none":
        assert not spec.has(FORECAST_MEAN) and not spec.has(FORECAST_STD)
        return
    for name in (FORECAST_MEAN, FORECAST_STD):
        field = next(f for f in spec.fields if f.name == name)
        assert field.size == 5 and field.low == 0.0 and field.unit == "units"
        assert "entry 0 = the current period" in field.description
    assert spec.names()[-10:] == [f"forecast_mean[{k}]" for k in range(5)] + [
        f"forecast_std[{k}]" for k in range(5)
    ]
    obs, _ = env.reset(seed=3)
    assert obs.shape == (spec.size,)
    # The state dict names the same values, and the spec turns it back into the observation.
    np.testing.assert_allclose(spec.vector(env.state_dict()), obs)
    assert ObsSpec.from_json(spec.to_json()) == spec


def test_forecast_fields_move_with_the_period_and_match_the_forecaster():
    env = InventoryEnv(env_config("forecast", horizon=3))
    demand = env.config.demand
    sl = env.obs_spec.index(FORECAST_MEAN)
    obs, _ = env.reset(seed=1)
    for t in range(15):
        mean, std = demand.forecast(t, 3)
        np.testing.assert_allclose(obs[sl], mean, rtol=1e-6)
        np.testing.assert_allclose(obs[env.obs_spec.index(FORECAST_STD)], std, rtol=1e-6)
        obs, *_ = env.step(20)
    # After 15 steps entry 0 is the forecast of period 15, which was entry 2 at period 13.
    assert obs[sl][0] == pytest.approx(float(demand.mean_at(15, 1)[0]), rel=1e-6)


def test_information_hook_gives_the_observed_means():
    from stocklab.envs.demand import information_hook

    for information in ("forecast", "oracle_mean"):
        env = InventoryEnv(env_config(information, horizon=3))
        hook = information_hook(env.config.demand, information, 3)
        obs, _ = env.reset(seed=0)
        for t in range(5):
            np.testing.assert_allclose(obs[env.obs_spec.index(FORECAST_MEAN)], hook(t), rtol=1e-6)
            obs, *_ = env.step(30)


def test_oracle_mean_of_a_seasonal_model_is_its_profile():
    spec = {"dist": "seasonal", "base": 10, "yearly": [0.5, 1.0, 1.5, 1.0]}
    env = InventoryEnv(env_config("oracle_mean", spec, horizon=6))
    obs, _ = env.reset(seed=0)
    np.testing.assert_allclose(obs[env.obs_spec.index(FORECAST_MEAN)], [5, 10, 15, 10, 5, 10])
    # Poisson: the standard deviation is the square root of the mean.
    np.testing.assert_allclose(
        obs[env.obs_spec.index(FORECAST_STD)], np.sqrt([5, 10, 15, 10, 5, 10]), rtol=1e-6
    )


def test_forecast_information_needs_a_forecaster():
    with pytest.raises(ConfigError, match="information 'forecast' needs .*forecast_fed.*oracle_mean"):
        parse_env_config(env_config("forecast", {"dist": "poisson", "mean": 4}))


@pytest.mark.parametrize("information", INFORMATION)
def test_all_information_settings_run_an_episode(information):
    env = InventoryEnv(env_config(information))
    obs, _ = env.reset(seed=2)
    total = 0.0
    for _ in range(300):  # beyond the first computed block of information (256 periods)
        obs, reward, terminated, truncated, _ = env.step(40)
        assert env.observation_space.contains(obs)
        total += reward
    assert np.isfinite(total)


# ------------------------------------------------------------------------------ demand generation
def test_naive_forecast_fed_demand_is_last_value_plus_a_resampled_difference():
    history = load_history("demo").series("TREND")
    start = history.index[30]
    spec = {
        "dist": "forecast_fed",
        "path": "demo",
        "sku": "TREND",
        "model": "naive",
        "start": str(start.date()),
    }
    model = parse_env_config({"demand": spec}).demand
    y = history.to_numpy()[:30].astype(float)
    # By hand: the naive forecast of every period is y_30 (the last value before start); its in-sample
    # residuals are the first differences; demand = max(0, y_30 + a resampled difference).
    np.testing.assert_allclose(model.forecast(0, 5)[0], np.full(5, y[-1]))
    draws = model.sample(np.random.default_rng(0), 0, 20_000)
    support = set(np.maximum(y[-1] + np.diff(y), 0).astype(int).tolist())
    assert set(np.unique(draws).tolist()) <= support
    expected = np.maximum(y[-1] + np.diff(y), 0).mean()
    assert draws.mean() == pytest.approx(expected, abs=4.5 * draws.std() / np.sqrt(len(draws)))
    np.testing.assert_allclose(model.expected(0, 3)[0], expected)


def test_predictive_noise_has_the_model_spread():
    spec = {**FED, "noise": "predictive"}
    model = parse_env_config({"demand": spec}).demand
    fit_sd = model.forecast(0, 1)[1][0]
    rng = np.random.default_rng(5)
    x = np.array([model.sample(rng, 0, 12) for _ in range(20_000)], dtype=float)
    mu = model.mean_at(0, 12)
    far = mu > 4 * fit_sd  # periods where truncation at 0 has probability < 4e-5
    assert far.sum() >= 6
    se = fit_sd / np.sqrt(len(x))
    assert np.abs(x.mean(axis=0) - mu)[far].max() < 4.5 * se + 1e-9
    # Rounding to whole units adds 1/12 to the variance (Sheppard).
    assert x.var(axis=0)[far].mean() == pytest.approx(fit_sd**2 + 1 / 12, rel=0.03)


def test_long_episodes_repeat_the_last_forecast_cycle():
    model = parse_env_config({"demand": {**FED, "forecast_periods": 48}}).demand
    mu = model.mean_at(0, 100)
    np.testing.assert_allclose(mu[48:60], mu[36:48])
    np.testing.assert_allclose(mu[60:72], mu[36:48])


def test_fitted_once_per_series_model_and_cutoff():
    a = parse_env_config({"demand": FED}).demand
    b = parse_env_config({"demand": FED}).demand
    assert a._fit is b._fit
    c = parse_env_config({"demand": {**FED, "start": "2019-01-01"}}).demand
    assert c._fit is not a._fit


# --------------------------------------------------------------------------------- configs and CLI
def test_seasonal_forecast_config_simulates():
    config = ROOT / "configs" / "seasonal_forecast.yaml"
    result = CliRunner().invoke(
        app, ["simulate", str(config), "--order-up-to", "150", "--episodes", "2", "--periods", "60", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["avg_cost"] > 0


def test_bench_forecast_reports_steps_per_second():
    result = CliRunner().invoke(app, ["bench", "forecast", "--steps", "500", "--repeats", "1", "--json"])
    assert result.exit_code == 0, result.output
    env = json.loads(result.output)["env"]
    assert set(env) == set(INFORMATION)
    assert all(r["steps_per_s"] > 0 and r["steps"] == 500 for r in env.values())


# ------------------------------------------------------------------------- lead-time demand quantiles
def test_demand_quantile_matches_simulated_lead_time_demand():
    model = parse_env_config({"demand": FED}).demand
    rng = np.random.default_rng(3)
    # Independent oracle: many simulated paths of the model's own demand over periods 5 .. 7.
    sums = np.array([model.sample(rng, 5, 3).sum() for _ in range(20_000)])
    for f in (0.8, 0.95):
        assert model.demand_quantile(5, 3, f) == pytest.approx(np.quantile(sums, f), abs=2.0)


def test_newsvendor_quantile_levels_cover_lead_time_demand_at_the_critical_fractile():
    from stocklab.baselines.policies.classic import build_policy

    cfg = parse_env_config({**env_config("none"), "costs": {"holding": 1.0, "shortage": 4.0}})
    policy = build_policy("newsvendor", cfg, {"levels": "quantile"})
    assert policy.fractile == pytest.approx(0.8)
    env = InventoryEnv(cfg)
    obs, _ = env.reset(seed=0)
    levels, demand = [], []
    for _ in range(400):
        levels.append(policy.current_level(obs))
        action, _ = policy.predict(obs)
        obs, _, _, _, info = env.step(action)
        demand.append(info["demand"])
    demand = np.array(demand)
    lead = demand[:-2] + demand[1:-1] + demand[2:]  # periods t .. t + L, L = 2
    coverage = np.mean(lead <= np.array(levels[:-2]))
    assert coverage == pytest.approx(0.8, abs=0.06)
    assert policy.params() == {"fractile": 0.8, "levels": "quantile"}


def test_quantile_levels_need_a_model_that_states_quantiles():
    from stocklab.baselines.policies.classic import build_policy
    from stocklab.envs.core.errors import PolicyError

    cfg = parse_env_config({"demand": {"dist": "poisson", "mean": 5}})
    with pytest.raises(PolicyError, match="levels: quantile needs"):
        build_policy("newsvendor", cfg, {"levels": "quantile"})
    with pytest.raises(PolicyError, match="levels \\(='normal'\\)"):
        build_policy("newsvendor", cfg, {"levels": "normal"})
