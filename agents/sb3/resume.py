"""Checkpoints of a Stable-Baselines3 training, taken between rollouts, and the resume from the latest.

Between rollouts (after an update, before the next step) the state of a training is: the network and
its optimiser (SB3's ``model.zip``: tensors, read back with ``weights_only``), the algorithm's counters
and last observations, the training envs mid-episode with their VecNormalize statistics (captured by
:mod:`stocklab.envs.core.state`), the callbacks' evaluation and early-stopping state with the best
network so far, and the random generators that SB3 draws from (torch's for actions, NumPy's global one
for minibatches, Python's). Envs other than the batched engine's (SimPy under a DummyVecEnv) keep
state no file can hold, so those trainings restart instead. See :mod:`stocklab.agents.resume`.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stocklab.agents.resume import ResumePoint, StaleCheckpoint
from stocklab.agents.sb3.policy import MODEL_FILE
from stocklab.envs.core.errors import PolicyError
from stocklab.envs.core.state import capture, read_state, restore, stocklab_objects, write_state

if TYPE_CHECKING:
    from stocklab.agents.sb3.agent import SB3Agent

#: What the algorithm itself carries from one rollout to the next (besides its tensors).
MODEL_FIELDS = ("_last_obs", "_last_episode_starts", "_last_original_obs", "num_timesteps", "_n_updates")
#: Counters and scores of stocklab's and SB3's callbacks (whichever each has).
CALLBACK_FIELDS = (
    "n_calls", "best_mean_reward", "last_mean_reward", "no_improvement_evals", "last_best_mean_reward",
    "best", "stale",
)  # fmt: skip
_STATE = "state.npz"


def resumable(agent: SB3Agent) -> bool:
    """Whether the training envs' state can be saved: the batched engine's VecEnv (not SimPy's)."""
    return agent.vec_kind == "batched"


def attach(agent: SB3Agent, point: ResumePoint, callbacks: list[Any]) -> bool:
    """Load ``point``'s latest checkpoint, if any, into a fresh agent and its callbacks; True if loaded.

    Adds the callback that writes the next checkpoints to ``callbacks``. StaleCheckpoint (the checkpoint removed) when it does not fit: rebuild the agent and start over.
    """
    found = point.latest()
    if found is not None:
        try:
            load(found[0], agent, callbacks)
        except PolicyError as exc:
            point.clear()
            raise StaleCheckpoint(str(exc)) from None
    callbacks.append(resume_callback(agent, point, list(callbacks)))
    return found is not None


def _follow(obj: Any) -> bool:
    """The walk enters stocklab's objects, and SB3's VecNormalize with its running statistics."""
    from stable_baselines3.common.running_mean_std import RunningMeanStd
    from stable_baselines3.common.vec_env import VecNormalize

    return stocklab_objects(obj) or isinstance(obj, VecNormalize | RunningMeanStd)


def _all(callbacks: list[Any]) -> list[Any]:
    """The callbacks with their children (an evaluation's on-new-best and after-evaluation ones)."""
    out: list[Any] = []
    for cb in callbacks:
        out.append(cb)
        for child in (getattr(cb, "callback_on_new_best", None), getattr(cb, "callback", None)):
            if child is not None and child not in out:
                out.extend(_all([child]))
    return out


def _tree(agent: SB3Agent, callbacks: list[Any]) -> dict[str, Any]:
    """Everything captured by the state walk, as one tree (the best network is stored apart)."""
    import torch

    return {
        "venv": agent.venv,
        "model": {f: getattr(agent.model, f) for f in MODEL_FIELDS},
        "callbacks": [
            {f: getattr(cb, f) for f in CALLBACK_FIELDS if isinstance(getattr(cb, f, None), int | float)}
            for cb in _all(callbacks)
        ],
        "numpy": np.random.get_state(legacy=False),
        "python": np.array(random.getstate()[1], dtype=np.uint64),
        "torch": torch.get_rng_state().numpy(),
    }


def _keeper(callbacks: list[Any]) -> Any:
    return next((cb for cb in _all(callbacks) if type(cb).__name__ == "KeepBest"), None)


def save(path: Path, agent: SB3Agent, callbacks: list[Any]) -> None:
    """Write the training's state into the (new, empty) folder ``path``."""
    from stocklab.envs.core.storage import atomic_path

    with atomic_path(path / MODEL_FILE) as tmp:
        agent.model.save(tmp)
    arrays, tree = capture(_tree(agent, callbacks), _follow)
    values: dict[str, Any] = {"tree": tree, "evaluations": [list(e) for e in agent.evaluations]}
    best = getattr(_keeper(callbacks), "best", None)
    if best is not None:
        params, rms = best
        arrays |= {f"best/{k}": v.detach().cpu().numpy().copy() for k, v in params.items()}
        if rms is not None:
            arrays |= {"best_rms/mean": rms.mean.copy(), "best_rms/var": rms.var.copy()}
            values["best_rms_count"] = float(rms.count)
    write_state(path / _STATE, arrays, values)


def load(path: Path, agent: SB3Agent, callbacks: list[Any]) -> None:
    """Put the training state of checkpoint ``path`` into a fresh agent and its callbacks.

    PolicyError when it does not fit (the caller then trains from the start).
    """
    import torch

    try:
        agent.model.set_parameters(str(path / MODEL_FILE), exact_match=True, device=agent.model.device)
    except (OSError, KeyError, RuntimeError, ValueError) as exc:
        raise PolicyError(f"{path / MODEL_FILE}: does not fit the training ({exc})") from None
    arrays, values = read_state(path / _STATE)
    agent.venv.reset()  # the rebuilt envs take the shape they had when the state was captured
    tree = _tree(agent, callbacks)
    try:
        restore(tree, {k: v for k, v in arrays.items() if "/" not in k}, values["tree"], _follow)
        evaluations = [(int(s), float(c)) for s, c in values["evaluations"]]
    except PolicyError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise PolicyError(f"{path}: damaged checkpoint ({type(exc).__name__}: {exc})") from None
    for field, value in tree["model"].items():
        setattr(agent.model, field, value)
    for cb, fields in zip(_all(callbacks), tree["callbacks"], strict=True):
        for field, value in fields.items():
            setattr(cb, field, value)
    agent.evaluations[:] = evaluations
    np.random.set_state(tree["numpy"])
    random.setstate((3, tuple(int(x) for x in tree["python"]), None))
    torch.set_rng_state(torch.from_numpy(tree["torch"]))
    keeper = _keeper(callbacks)
    params = {
        k.removeprefix("best/"): torch.from_numpy(v) for k, v in arrays.items() if k.startswith("best/")
    }
    if keeper is not None and params:
        keeper.best = (params, _running_stats(arrays, values))


def _running_stats(arrays: dict[str, np.ndarray], values: dict[str, Any]) -> Any:
    if "best_rms/mean" not in arrays:
        return None
    from stable_baselines3.common.running_mean_std import RunningMeanStd

    rms = RunningMeanStd(shape=arrays["best_rms/mean"].shape)
    rms.mean, rms.var, rms.count = arrays["best_rms/mean"], arrays["best_rms/var"], values["best_rms_count"]
    return rms


def resume_callback(agent: SB3Agent, point: ResumePoint, callbacks: list[Any]) -> Any:
    """An SB3 callback writing a checkpoint every ``point.every`` env steps, at a rollout's start."""
    from stable_baselines3.common.callbacks import BaseCallback

    class Resume(BaseCallback):
        last = 0

        def _on_training_start(self) -> None:
            self.last = self.model.num_timesteps

        def _on_rollout_start(self) -> None:
            steps = self.model.num_timesteps
            if steps - self.last >= point.every:
                self.last = steps
                point.commit(steps, lambda path: save(path, agent, callbacks))

        def _on_step(self) -> bool:
            return True

    return Resume()
