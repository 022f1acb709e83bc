"""Resumable training: a training cut short between checkpoints and resumed ends with the very policy,
to the bit, of one never interrupted; the env state walk restores engines mid-episode exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stocklab.agents.factory import train_agent
from stocklab.agents.resume import ResumePoint
from stocklab.envs import PolicyError
from stocklab.envs.core.state import capture, read_state, restore, write_state
from stocklab.envs.vector_env import InventoryVectorEnv

ENV = {
    "unmet_demand": "lost",
    "lead_time": 2,
    "demand": {"dist": "poisson", "mean": 5},
    "max_order": 20,
    "periods": 60,
}
CONFIGS = [
    ENV,
    {**ENV, "unmet_demand": "backorder", "lead_time": {"dist": "uniform", "low": 1, "high": 3}},
    {**ENV, "capacity": 25, "costs": {"holding": 1, "shortage": 9, "fixed_order": 4}},
]


def _run(env: InventoryVectorEnv, actions: np.ndarray) -> list[np.ndarray]:
    out = []
    for a in actions:
        obs, reward, terminated, truncated, _ = env.step(a)
        out += [obs.copy(), reward.copy(), terminated | truncated]
    return out


@settings(max_examples=40, deadline=None)
@given(config=st.sampled_from(CONFIGS), seed=st.integers(0, 2**31 - 1), cut=st.integers(1, 150))
def test_a_restored_engine_goes_on_as_the_original(config, seed, cut, tmp_path_factory):
    # the oracle: the same env never interrupted, driven by the same actions
    actions = np.random.default_rng(seed).integers(0, 21, size=(cut + 80, 6))
    original = InventoryVectorEnv(6, config)
    original.reset(seed=seed)
    _run(original, actions[:cut])
    path = tmp_path_factory.mktemp("state") / "state.npz"
    write_state(path, *capture(original))
    rebuilt = InventoryVectorEnv(6, config)
    rebuilt.reset(seed=seed + 1)  # a different state, overwritten by the restore
    restore(rebuilt, *read_state(path))
    for got, want in zip(_run(rebuilt, actions[cut:]), _run(original, actions[cut:]), strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_state_that_does_not_fit_is_refused():
    small, large = InventoryVectorEnv(4, ENV), InventoryVectorEnv(8, ENV)
    small.reset(seed=1)
    large.reset(seed=1)
    with pytest.raises(PolicyError, match="does not fit"):
        restore(large, *capture(small))


class _Killed(Exception):
    """Stands for kill -9 between two checkpoints: the work since the last one is lost."""


def _watch_commits(monkeypatch: pytest.MonkeyPatch, die_after: int | None = None) -> list[int]:
    """The steps of every checkpoint written; with ``die_after``, die as checkpoint ``die_after + 1`` is due."""
    real, calls = ResumePoint.commit, []

    def commit(self, steps, write, **info):
        calls.append(steps)
        if die_after is not None and len(calls) > die_after:
            raise _Killed
        return real(self, steps, write, **info)

    monkeypatch.setattr(ResumePoint, "commit", commit)
    return calls


def _train(kind: str, config: dict, steps: int, hp: dict, folder: Path | None, every: int):
    point = ResumePoint(folder, "unit-1", every) if folder is not None else None
    return train_agent(
        kind, config, steps, hp, seed=7, eval_every=steps // 5, episodes=2, periods=100, resume=point
    )


@pytest.mark.parametrize(
    ("kind", "steps", "every", "hp"),
    [
        ("q_learning", 30_000, 4_000, {}),
        ("sarsa", 30_000, 4_000, {"criterion": "discounted"}),
        ("ppo", 3_072, 512, {"n_envs": 4, "n_steps": 64, "batch_size": 64, "n_epochs": 2,
                             "policy_kwargs": {"net_arch": [16, 16]}}),
    ],
)  # fmt: skip
def test_a_training_cut_short_and_resumed_is_bit_identical(kind, steps, every, hp, tmp_path, monkeypatch):
    with monkeypatch.context() as m:
        whole_commits = _watch_commits(m)
        whole = _train(kind, ENV, steps, hp, tmp_path / "whole", every)
    with monkeypatch.context() as m:
        _watch_commits(m, die_after=2)
        with pytest.raises(_Killed):
            _train(kind, ENV, steps, hp, tmp_path / "cut", every)
    found = ResumePoint(tmp_path / "cut", "unit-1", every).latest()
    assert found is not None and found[1]["steps"] == whole_commits[1]
    with monkeypatch.context() as m:
        resumed_commits = _watch_commits(m)
        resumed = _train(kind, ENV, steps, hp, tmp_path / "cut", every)
    # it went on from the second checkpoint: it wrote only the checkpoints after it
    assert len(whole_commits) > 3 and resumed_commits == whole_commits[2:]
    assert resumed.evaluations == whole.evaluations
    obs = np.random.default_rng(0).integers(0, 40, size=(500, 3)).astype(np.float32)
    obs[:, 2] = obs[:, 0] + obs[:, 1]
    assert [resumed.policy.act(o) for o in obs] == [whole.policy.act(o) for o in obs]
    if kind == "ppo":
        for a, b in zip(
            whole.agent.model.policy.parameters(), resumed.agent.model.policy.parameters(), strict=True
        ):
            assert a.detach().numpy().tobytes() == b.detach().numpy().tobytes()
    else:
        assert resumed.agent.q == whole.agent.q and resumed.agent.counts == whole.agent.counts


def test_a_checkpoint_of_another_training_is_never_read(tmp_path):
    point = ResumePoint(tmp_path, "unit-1", 100)
    point.commit(300, lambda path: (path / "x").write_text("state"))
    assert point.latest() is not None
    assert ResumePoint(tmp_path, "unit-2", 100).latest() is None
    point.clear()
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_folders_it_did_not_write_are_never_removed(tmp_path):
    foreign = tmp_path / "step-300"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("a user's file")
    other = tmp_path / "step-100"
    other.mkdir()
    point = ResumePoint(tmp_path, "unit-1", 100)
    with pytest.raises(PolicyError, match="not a stocklab checkpoint"):
        point.commit(300, lambda path: None)
    point.commit(200, lambda path: None)  # prunes older checkpoints: only its own
    point.clear()
    assert (foreign / "notes.txt").read_text() == "a user's file" and other.is_dir()
    assert not (tmp_path / "step-200").exists()


def test_simpy_envs_train_without_checkpoints(tmp_path):
    # a DummyVecEnv of SimPy envs holds state no file can hold: that training restarts instead
    hp = {"n_envs": 2, "n_steps": 64, "batch_size": 64, "n_epochs": 1, "vec_env": "dummy"}
    result = _train("ppo", ENV, 512, hp, tmp_path, 128)
    assert result.steps == 512 and not any(tmp_path.glob("step-*"))


def test_what_a_kill_midway_leaves_is_cleared(tmp_path):
    """A kill while pruning (a marked folder half removed), while writing the pointer (its temporary
    file) or between creating and marking a checkpoint (an empty folder) leaves nothing behind."""
    point = ResumePoint(tmp_path / "resume", "unit-1", 100)
    point.commit(100, lambda path: (path / "x").write_text("state"))
    half = point.folder / "step-50"
    half.mkdir()
    (half / ".stocklab-checkpoint").write_text("unit-1")  # its other files already gone
    (point.folder / ".latest.0123456789ab.tmp.json").write_text("{")
    (point.folder / "step-200").mkdir()  # created, not yet marked
    point.commit(200, lambda path: (path / "x").write_text("state"))
    assert point.latest()[1]["steps"] == 200
    point.clear()
    assert not point.folder.exists()
    user = tmp_path / "mine" / "step-300"
    user.mkdir(parents=True)
    (user / "notes.txt").write_text("keep")
    with pytest.raises(PolicyError, match="not a stocklab checkpoint"):
        ResumePoint(tmp_path / "mine", "unit-1", 100).commit(300, lambda path: None)
    assert (user / "notes.txt").read_text() == "keep"
