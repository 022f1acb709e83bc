"""`stocklab bench engine`'s PPO rows: the before/after split covers the whole training time."""

from __future__ import annotations

import pytest

from stocklab.experiments.bench import engine, optimality


def test_before_and_after_rows_split_the_whole_wall_time(monkeypatch) -> None:
    # small rollouts and one epoch: the test checks the accounting, not the speed
    small = {"n_steps": 32, "batch_size": 64, "n_epochs": 1}
    monkeypatch.setattr(engine, "PPO_BEFORE", {**engine.PPO_BEFORE, **small, "n_envs": 2})
    after = {**optimality.AGENTS["ppo"]["hyperparams"], **small, "n_envs": 4}
    monkeypatch.setitem(optimality.AGENTS, "ppo", {"hyperparams": after})
    rows = engine.bench_ppo(env_counts=(2,), steps=200, rollout=64)
    assert [(r["settings"], r["vec_env"], r["n_envs"]) for r in rows] == [
        ("same rollout", "dummy", 2),
        ("same rollout", "batched", 2),
        ("before", "dummy", 2),
        ("after", "batched", 4),
    ]
    for r, rollout in zip(rows, (64, 64, 64, 128), strict=True):
        parts = ("env_s", "wrappers_s", "rollout_s", "update_s", "other_s")
        assert sum(r[k] for k in parts) == pytest.approx(r["seconds"], rel=1e-9)
        assert sum(r[k.replace("_s", "_pct")] for k in parts) == pytest.approx(100.0)
        assert r["env_s"] > 0 and r["update_s"] > 0
        assert 200 <= r["steps"] < 200 + rollout  # SB3 trains whole rollouts
