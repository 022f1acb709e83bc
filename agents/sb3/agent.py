"""Stable-Baselines3 agents (PPO, A2C, DQN, ... by name) on InventoryEnv.

:class:`SB3Agent` builds ``n_envs`` copies of the env behind ``VecNormalize`` (running mean/std of
observations and returns), and the algorithm from an rl-baselines3-zoo style dict. The copies are a
:class:`~stocklab.agents.sb3.vec_env.BatchedVecEnv` (the batched NumPy engine, all envs in one step;
the same demand, observations and rewards as the DummyVecEnv of InventoryEnvs it replaces) when the
env config's engine resolves to ``batched`` (``engine: auto`` and a whole-period config), else a
``DummyVecEnv`` of InventoryEnvs; ``vec_env: dummy | subproc | batched`` forces a kind::

    {"n_envs": 4, "policy": "MlpPolicy", "normalize": true, "learning_rate": "lin_3e-4",
     "n_steps": 256, "policy_kwargs": {"net_arch": [64, 64], "activation_fn": "tanh"}}

Keys other than ``n_envs``, ``policy``, ``normalize`` (bool or VecNormalize keyword arguments),
``vec_env``, ``n_timesteps`` (the zoo's budget, ignored: the budget is ``train.steps``),
``action_prior`` (:mod:`.defaults`) and ``warm_start`` (:mod:`.warm_start`: the network fitted to an
improved capped base-stock rule before the first update) go to the algorithm's constructor; ``lin_<x>`` is a schedule decaying linearly from x to 0. Any algorithm of
``stable_baselines3`` whose action space fits ``Discrete`` works without code of its own.

Training (:meth:`SB3Agent.learn`) can evaluate the deterministic policy on fixed seeds (common random
numbers), keep the best, stop early, checkpoint, show SB3's progress bar and log to TensorBoard.
``SB3Agent.load`` resumes from a saved directory (network, optimiser, VecNormalize statistics, step
count). torch and stable_baselines3 are imported on first use.
"""

from __future__ import annotations

import copy
import inspect
import sys
from pathlib import Path
from typing import Any

from stocklab.agents.resume import ResumePoint
from stocklab.agents.sb3.callbacks import (
    WallClock,
    budget_callbacks,
    fixed_seed_eval,
    keep_best_callback,
    scored_eval,
    warm_start_callback,
)
from stocklab.agents.sb3.hyperparams import WRAPPER_KEYS, accepted_keys, check_keys, check_schedule
from stocklab.agents.sb3.policy import (
    MODEL_FILE,
    VECNORM_PKL,
    SB3Policy,
    algorithm_class,
    policy_kwargs_from_config,
    read_meta,
    snapshot_network,
    write_meta,
)
from stocklab.agents.sb3.resume import attach, resumable
from stocklab.envs.config import EnvConfig, parse_env_config
from stocklab.envs.core.errors import PolicyError
from stocklab.envs.core.storage import atomic_path
from stocklab.envs.registration import make_inventory_env


def linear_schedule(start: float, clock: WallClock | None = None) -> Any:
    """SB3 schedule: ``start`` x progress remaining (from ``start`` at the first step to 0 at the end)."""

    def schedule(progress_remaining: float) -> float:
        if clock is not None:
            progress_remaining = min(progress_remaining, clock.remaining())
        return progress_remaining * start

    return schedule


def _schedule(key: str, value: Any, clock: WallClock | None) -> Any:
    start = check_schedule(key, value)
    return value if start is None else linear_schedule(start, clock)


def algorithm_kwargs(
    algo: type, hyperparams: dict[str, Any], clock: WallClock | None = None
) -> dict[str, Any]:
    """Constructor keyword arguments of ``algo`` from the hyper-parameters (wrapper keys removed)."""
    check_keys(algo.__name__, accepted_keys(inspect.signature(algo.__init__).parameters), hyperparams)
    return {
        key: policy_kwargs_from_config(value) if key == "policy_kwargs" else _schedule(key, value, clock)
        for key, value in hyperparams.items()
        if key not in WRAPPER_KEYS
    }


def _wrapper_options(hp: dict[str, Any], config: EnvConfig) -> tuple[int, str, bool | dict[str, Any]]:
    """The validated wrapper keys of the hyper-parameters: ``n_envs``, ``vec_env`` and ``normalize``.

    ``vec_env`` defaults to ``batched`` where the env config's engine resolves to the batched engine,
    else ``dummy``.
    """
    n_envs = int(hp.get("n_envs", 1))
    if n_envs < 1:
        raise PolicyError(f"hyperparams.n_envs (={n_envs}) must be >= 1")
    vec_kind = hp.get("vec_env") or ("batched" if config.resolved_engine == "batched" else "dummy")
    if vec_kind not in ("dummy", "subproc", "batched"):
        raise PolicyError(f"hyperparams.vec_env: {vec_kind!r}; allowed: dummy, subproc, batched")
    refusal = config.batched_refusal()
    if vec_kind == "batched" and refusal is not None:
        raise PolicyError(
            f"hyperparams.vec_env: 'batched' cannot simulate this env exactly ({refusal[0]}: {refusal[1]})"
        )
    norm = hp.get("normalize", True)
    if not isinstance(norm, bool | dict):
        raise PolicyError(f"hyperparams.normalize: {norm!r}; expected true, false or VecNormalize kwargs")
    return n_envs, vec_kind, norm


class SB3Agent:
    """One SB3 algorithm training on vectorised InventoryEnvs; :meth:`policy` gives an SB3Policy."""

    def __init__(
        self,
        env_config: EnvConfig | dict[str, Any],
        algo: str = "ppo",
        hyperparams: dict[str, Any] | None = None,
        seed: int = 0,
        tensorboard_log: str | Path | None = None,
        verbose: int = 0,
        device: str = "cpu",
        torch_threads: int | None = None,
    ) -> None:
        """Build the training envs and the SB3 model of ``algo`` with ``hyperparams``.

        ``torch_threads``: if set, ``torch.set_num_threads`` for this process (1 is fastest for
        small networks on a busy machine).
        """
        if torch_threads is not None:
            import torch

            torch.set_num_threads(int(torch_threads))
        self.env_config = parse_env_config(env_config)
        self.algo = algo.lower()
        self.seed = int(seed)
        self.hyperparams = dict(hyperparams or {})
        cls = algorithm_class(self.algo)
        self.clock = WallClock()
        kwargs = algorithm_kwargs(cls, self.hyperparams, self.clock)
        self.n_envs, vec_kind, norm = _wrapper_options(self.hyperparams, self.env_config)
        self.vec_kind = vec_kind
        self.venv: Any = self._make_venv(vec_kind)
        self._norm_kwargs: dict[str, Any] | None = None
        if norm:
            self._norm_kwargs = {
                "gamma": kwargs.get("gamma", 0.99),
                **(norm if isinstance(norm, dict) else {}),
            }
            self._normalize()
        self.model = self._make_model(cls, kwargs, tensorboard_log, verbose, device)
        if self.hyperparams.get("action_prior") is not None:
            from stocklab.agents.sb3.defaults import apply_action_prior

            apply_action_prior(self.model, self.env_config, self.hyperparams["action_prior"])
        self.evaluations: list[tuple[int, float]] = []
        self.warm_info: dict[str, Any] | None = None

    def _make_venv(self, vec_kind: str) -> Any:
        """``n_envs`` seeded copies of the env: a BatchedVecEnv, DummyVecEnv or SubprocVecEnv (``vec_kind``)."""
        from stable_baselines3.common.env_util import make_vec_env
        from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

        if vec_kind == "batched":
            from stocklab.agents.sb3.vec_env import BatchedVecEnv

            venv = BatchedVecEnv(self.env_config, self.n_envs)
            venv.seed(self.seed)  # what make_vec_env does: seeds s + i at the first reset
            return venv
        return make_vec_env(
            make_inventory_env, n_envs=self.n_envs, seed=self.seed, env_kwargs={"config": self.env_config},
            vec_env_cls=SubprocVecEnv if vec_kind == "subproc" else DummyVecEnv,
        )  # fmt: skip

    def _normalize(self) -> None:
        """Wrap :attr:`venv` in VecNormalize with :attr:`_norm_kwargs`; PolicyError for a bad keyword."""
        from stable_baselines3.common.vec_env import VecNormalize

        try:
            self.venv = VecNormalize(self.venv, **(self._norm_kwargs or {}))
        except TypeError as exc:
            raise PolicyError(f"hyperparams.normalize: {exc}") from None

    def _make_model(
        self, cls: type, kwargs: dict[str, Any], tensorboard_log: str | Path | None, verbose: int, device: str
    ) -> Any:
        """The SB3 algorithm ``cls`` on :attr:`venv`; PolicyError when it cannot take Discrete actions."""
        policy = self.hyperparams.get("policy", "MlpPolicy")
        tb = str(tensorboard_log) if tensorboard_log is not None else None
        try:
            return cls(
                policy,
                self.venv,
                seed=self.seed,
                tensorboard_log=tb,
                verbose=verbose,
                device=device,
                **kwargs,
            )
        except AssertionError as exc:  # SB3 asserts on unsupported action spaces
            self.venv.close()
            raise PolicyError(
                f"{self.algo}: cannot train on InventoryEnv (Discrete actions): {exc}"
            ) from None

    @property
    def num_timesteps(self) -> int:
        """Env steps trained so far (all parallel envs together)."""
        return int(self.model.num_timesteps)

    # ------------------------------------------------------------ training
    def learn(
        self,
        total_timesteps: int,
        *,
        eval_freq: int | None = None,
        eval_episodes: int = 4,
        eval_periods: int = 1000,
        eval_seed: int = 12345,
        patience: int | None = None,
        restore_best: bool = True,
        checkpoint_freq: int | None = None,
        checkpoint_dir: str | Path | None = None,
        progress_bar: bool = False,
        max_seconds: float | None = None,
        callback: Any = None,
        reset_num_timesteps: bool = True,
        evaluate: Any = None,
        clock: str = "wall",
        resume: ResumePoint | None = None,
    ) -> SB3Agent:
        """Train ``total_timesteps`` more env steps.

        Every ``eval_freq`` env steps the deterministic policy is scored on ``eval_episodes`` episodes
        of ``eval_periods`` periods from the fixed ``eval_seed`` (the score: average cost per period,
        appended to :attr:`evaluations`); after ``patience`` scores without improvement training
        stops; with ``restore_best`` the best network and statistics are put back at the end.
        Every ``checkpoint_freq`` env steps the agent is saved to
        ``checkpoint_dir/<algo>_<steps>_steps`` (loadable with :meth:`load`). The progress bar is
        shown only when stderr is a terminal. Training stops after ``max_seconds`` of wall time.
        With ``evaluate`` (a function policy -> cost per period, e.g. the DP's exact policy
        evaluation), it scores the policy instead of simulating the evaluation episodes. ``clock``
        measures ``max_seconds``: ``wall`` time or the process's ``cpu`` time. With ``resume`` (and the
        batched engine's envs), training goes on from that point's latest checkpoint, up to
        ``total_timesteps`` in all, and writes one every ``resume.every`` steps; a checkpoint that does
        not fit raises :class:`~stocklab.agents.resume.StaleCheckpoint` (rebuild the agent, start over).
        """
        if total_timesteps < 1:
            raise PolicyError(f"train.steps (={total_timesteps}) must be >= 1")
        callbacks = list(callback) if isinstance(callback, list | tuple) else [callback] if callback else []
        keeper = scorer = None
        callbacks += budget_callbacks(self, max_seconds, clock, checkpoint_freq, checkpoint_dir)
        if eval_freq:
            keeper = keep_best_callback(self)
            scorer = self._eval_callback(
                eval_freq, eval_episodes, eval_periods, eval_seed, keeper, patience, evaluate
            )
            callbacks.append(scorer)
        resumed = resume is not None and resumable(self) and attach(self, resume, callbacks)
        if not resumed and self._warm_start_due(total_timesteps):
            # after the time limit's start, so the budget pays for it; before the first evaluation
            at = callbacks.index(scorer) if scorer is not None else len(callbacks)
            callbacks.insert(at, warm_start_callback(self, self.hyperparams["warm_start"]))
        self.model.learn(
            total_timesteps - self.num_timesteps if resumed else total_timesteps, callback=callbacks or None,
            progress_bar=progress_bar and sys.stderr.isatty(),
            reset_num_timesteps=reset_num_timesteps and not resumed, tb_log_name=self.algo,
        )  # fmt: skip
        if keeper is not None and restore_best and keeper.best is not None:
            self._restore(keeper.best)
        return self

    def _warm_start_due(self, total_timesteps: int) -> bool:
        """Whether a fresh training of ``total_timesteps`` starts with the ``warm_start`` (see its ``min_steps``)."""
        warm = self.hyperparams.get("warm_start")
        if warm is None or self.num_timesteps != 0:
            return False
        from stocklab.agents.sb3.warm_start import WarmSpec

        return total_timesteps >= WarmSpec.parse(warm).min_steps

    def _eval_callback(
        self,
        freq: int,
        episodes: int,
        periods: int,
        seed: int,
        keeper: Any,
        patience: int | None,
        evaluate: Any,
    ) -> Any:
        """Score the greedy policy every ``freq`` steps: by ``evaluate`` if given, else on fixed seeds."""
        if evaluate is not None:
            return scored_eval(self, freq, evaluate, keeper, patience)
        from stable_baselines3.common.callbacks import StopTrainingOnNoModelImprovement

        # SB3 stops when more than max_no_improvement_evals scores in a row do not improve
        stop = StopTrainingOnNoModelImprovement(patience - 1, verbose=0) if patience else None
        return fixed_seed_eval(self, freq, episodes, periods, seed, keeper, stop)

    def _snapshot(self) -> tuple[Any, Any]:
        rms = copy.deepcopy(getattr(self.venv, "obs_rms", None))
        return copy.deepcopy(self.model.policy.state_dict()), rms

    def _restore(self, snap: tuple[Any, Any]) -> None:
        state, rms = snap
        self.model.policy.load_state_dict(state)
        if rms is not None:
            self.venv.obs_rms = rms

    # -------------------------------------------------------------- policy
    def normalize_stats(self) -> dict[str, Any] | None:
        """VecNormalize statistics and settings as JSON-ready data (None without normalisation)."""
        v = self.venv
        if self._norm_kwargs is None:
            return None
        return {
            "norm_obs": bool(v.norm_obs), "norm_reward": bool(v.norm_reward),
            "clip_obs": float(v.clip_obs), "clip_reward": float(v.clip_reward),
            "gamma": float(v.gamma), "epsilon": float(v.epsilon),
            "obs_mean": v.obs_rms.mean.tolist(), "obs_var": v.obs_rms.var.tolist(), "obs_count": float(v.obs_rms.count),
            "ret_mean": float(v.ret_rms.mean), "ret_var": float(v.ret_rms.var), "ret_count": float(v.ret_rms.count),
        }  # fmt: skip

    def meta(self) -> dict[str, Any]:
        """What ``agent.json`` records: enough to rebuild the agent and its network."""
        return {
            "algo": self.algo,
            "env_config": self.env_config.model_dump(mode="json", by_alias=True),
            "hyperparams": self.hyperparams,
            "seed": self.seed,
            "num_timesteps": self.num_timesteps,
        }

    def policy(self) -> SB3Policy:
        """The current deterministic policy, detached from further training."""
        meta = self.meta()
        return SB3Policy(
            self.env_config, snapshot_network(self.model.policy, meta), self.normalize_stats(), meta
        )

    # ----------------------------------------------------------------- I/O
    def save(self, path: str | Path) -> Path:
        """Save to directory ``path``: SB3's ``model.zip`` and ``vecnormalize.pkl`` plus JSON metadata."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with atomic_path(path / MODEL_FILE) as tmp:
            self.model.save(tmp)
        if self._norm_kwargs is not None:
            with atomic_path(path / VECNORM_PKL) as tmp:
                self.venv.save(str(tmp))
        write_meta(path, self.meta(), self.normalize_stats())
        return path

    @classmethod
    def load(
        cls,
        path: str | Path,
        tensorboard_log: str | Path | None = None,
        verbose: int = 0,
        device: str = "cpu",
    ) -> SB3Agent:
        """Rebuild a saved agent to continue training (``learn(n, reset_num_timesteps=False)``).

        Reads tensors and JSON only (no unpickling): the network and optimiser state, the step count
        and the VecNormalize statistics.
        """
        import numpy as np

        path = Path(path)
        meta, normalize = read_meta(path)
        agent = cls(
            meta["env_config"],
            meta["algo"],
            meta["hyperparams"],
            meta.get("seed", 0),
            tensorboard_log,
            verbose,
            device,
        )
        try:
            agent.model.set_parameters(str(path / MODEL_FILE), exact_match=True, device=device)
        except (KeyError, RuntimeError, ValueError) as exc:
            raise PolicyError(f"{path / MODEL_FILE}: does not fit the saved config ({exc})") from None
        agent.model.num_timesteps = int(meta.get("num_timesteps", 0))
        if normalize is not None and agent._norm_kwargs is not None:
            v = agent.venv
            v.obs_rms.mean = np.asarray(normalize["obs_mean"], dtype=np.float64)
            v.obs_rms.var = np.asarray(normalize["obs_var"], dtype=np.float64)
            v.obs_rms.count = float(normalize["obs_count"])
            v.ret_rms.mean = np.float64(normalize["ret_mean"])
            v.ret_rms.var = np.float64(normalize["ret_var"])
            v.ret_rms.count = float(normalize["ret_count"])
        return agent

    def close(self) -> None:
        """Close the vectorised envs (ends SubprocVecEnv workers)."""
        self.venv.close()
