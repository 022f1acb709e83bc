"""SB3Policy: a trained Stable-Baselines3 network behind stocklab's Policy interface.

The policy applies the VecNormalize observation statistics it was trained with,
obs_n = clip((obs - mean) / sqrt(var + epsilon), -clip_obs, clip_obs) (SB3's ``VecNormalize``), and
acts deterministically (the mode of the action distribution, or the argmax of Q for DQN).

A saved SB3 agent or policy is a directory::

    model.zip          SB3's own ``save`` (parameters, optimiser, SB3's metadata)
    vecnormalize.pkl   SB3's own ``VecNormalize.save`` (for SB3 tools; never read here)
    normalize.json     the observation and return statistics as JSON
    agent.json         algorithm, env config, hyper-parameters, seed, steps trained

Loading rebuilds the network from ``agent.json`` and reads only the tensors of ``model.zip``
(``torch.load(weights_only=True)``) and the JSON statistics: nothing is unpickled, so a tampered
directory cannot run code. torch and stable_baselines3 are imported when a policy is built or loaded.
"""

from __future__ import annotations

import json
import pickle  # only for its exception type: nothing here unpickles
from pathlib import Path
from typing import Any

import numpy as np

from stocklab.agents.sb3.hyperparams import ACTIVATIONS
from stocklab.envs.config import EnvConfig, parse_env_config
from stocklab.envs.core.errors import PolicyError, did_you_mean
from stocklab.envs.core.obs import ObsSpec
from stocklab.envs.core.policy import ActionMap, Policy
from stocklab.envs.core.storage import atomic_path, check_format, format_stamp, write_json

MODEL_FILE = "model.zip"
VECNORM_PKL = "vecnormalize.pkl"
NORMALIZE_FILE = "normalize.json"
AGENT_FILE = "agent.json"
#: The on-disk format (its version is in :data:`stocklab.envs.core.storage.FORMATS`).
FORMAT = "stocklab-sb3-agent"


def algorithm_class(name: str) -> type:
    """The Stable-Baselines3 algorithm class called ``name`` (case-insensitive: ppo, a2c, dqn, ...)."""
    import stable_baselines3 as sb3
    from stable_baselines3.common.base_class import BaseAlgorithm

    known = {n.lower(): getattr(sb3, n) for n in dir(sb3) if _is_algo(getattr(sb3, n), BaseAlgorithm)}
    cls = known.get(name.lower())
    if cls is None:
        raise PolicyError(
            f"unknown SB3 algorithm '{name}'.{did_you_mean(name.lower(), known)} Allowed: {', '.join(sorted(known))}"
        )
    return cls


def _is_algo(obj: Any, base: type) -> bool:
    return isinstance(obj, type) and issubclass(obj, base) and obj is not base


def policy_kwargs_from_config(raw: dict[str, Any] | None) -> dict[str, Any]:
    """``policy_kwargs`` with names turned into torch classes (``activation_fn: tanh`` -> nn.Tanh).

    Values are never evaluated as code (rl-baselines3-zoo#505): only known names are mapped.
    """
    import torch

    out = dict(raw or {})
    for key in ("activation_fn", "optimizer_class"):
        value = out.get(key)
        if isinstance(value, str):
            module = torch.nn if key == "activation_fn" else torch.optim
            name = ACTIVATIONS.get(value.lower().removeprefix("nn."), value.removeprefix("nn."))
            cls = getattr(module, name, None)
            if not isinstance(cls, type):
                raise PolicyError(f"hyperparams.policy_kwargs.{key}: unknown name {value!r}")
            out[key] = cls
    return out


class SB3Policy(Policy):
    """A deterministic SB3 policy network with its VecNormalize statistics applied."""

    name = "sb3"

    def __init__(
        self,
        env_config: EnvConfig | dict[str, Any],
        network: Any,
        normalize: dict[str, Any] | None,
        meta: dict[str, Any],
    ) -> None:
        config = parse_env_config(env_config)
        super().__init__(ObsSpec.for_config(config), ActionMap.for_config(config))
        self.env_config = config
        self.network = network
        self.normalize = normalize
        self.meta = meta
        self.name = str(meta.get("algo", "sb3")).lower()
        if normalize and normalize.get("norm_obs"):
            self._mean = np.asarray(normalize["obs_mean"], dtype=np.float64)
            self._scale = np.sqrt(np.asarray(normalize["obs_var"], dtype=np.float64) + normalize["epsilon"])
            self._clip = float(normalize["clip_obs"])
            if self._mean.shape != (self.obs_spec.size,):
                raise PolicyError(
                    f"normalize: statistics of size {self._mean.shape} for {self.obs_spec.size} obs"
                )
        else:
            self._mean = None

    def normalize_obs(self, observation: np.ndarray) -> np.ndarray:
        """The network's input for observation(s) (same formula and dtype as VecNormalize)."""
        obs = np.asarray(observation, dtype=np.float32)
        if self._mean is None:
            return obs
        return np.clip((obs - self._mean) / self._scale, -self._clip, self._clip)

    def act(self, observation: np.ndarray) -> int:
        """The network's deterministic action for one observation."""
        action, _ = self.network.predict(self.normalize_obs(observation), deterministic=True)
        return int(np.asarray(action).reshape(-1)[0])

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        """SB3's ``predict`` signature: deterministic action(s) for one observation or a batch.

        Lets SB3's evaluation helpers run this policy; ``state`` is passed through unchanged.
        """
        obs = np.asarray(observation)
        if obs.ndim == 1:
            return np.asarray(self.act(obs)), state
        actions, _ = self.network.predict(self.normalize_obs(obs), deterministic=True)
        return np.asarray(actions).astype(np.int64).reshape(len(obs)), state

    def params(self) -> dict[str, Any]:
        """The algorithm, its hyper-parameters, the seed and the training steps."""
        return {k: self.meta.get(k) for k in ("algo", "hyperparams", "seed", "num_timesteps")}

    @property
    def exportable(self) -> str | None:
        """``onnx``: the network exports to an ONNX graph."""
        return "onnx"

    # ---------------------------------------------------------------- I/O
    def save(self, path: str | Path) -> Path:
        """Write ``agent.json``, ``normalize.json`` and the network's parameters to directory ``path``."""
        from stable_baselines3.common.save_util import save_to_zip_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        params = {"policy": self.network.state_dict()}
        with atomic_path(path / MODEL_FILE) as tmp:
            save_to_zip_file(tmp, data={"policy_only": True}, params=params)
        write_meta(path, self.meta, self.normalize)
        return path

    @classmethod
    def load(cls, path: str | Path) -> SB3Policy:
        """Load the policy of a directory written by :meth:`save` or ``SB3Agent.save``."""
        path = Path(path)
        meta, normalize = read_meta(path)
        network = build_network(meta)
        load_network_params(network, path / MODEL_FILE)
        return cls(meta["env_config"], network, normalize, meta)


def write_meta(path: Path, meta: dict[str, Any], normalize: dict[str, Any] | None) -> None:
    """Write ``agent.json`` and ``normalize.json`` into ``path``."""
    write_json(path / AGENT_FILE, {**format_stamp(FORMAT), **meta})
    write_json(path / NORMALIZE_FILE, normalize)


def read_meta(path: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Read ``agent.json`` and ``normalize.json``; PolicyError when missing or malformed."""
    files = [path / AGENT_FILE, path / NORMALIZE_FILE, path / MODEL_FILE]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise PolicyError(f"{path}: not a saved SB3 agent (missing {', '.join(missing)})")
    try:
        meta = json.loads(files[0].read_text("utf-8"))
        normalize = json.loads(files[1].read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PolicyError(f"{path}: unreadable metadata ({exc})") from None
    check_format(meta, FORMAT, path / AGENT_FILE, PolicyError)
    for key in ("algo", "env_config", "hyperparams"):
        if key not in meta:
            raise PolicyError(f"{path / AGENT_FILE}: missing key '{key}'")
    if normalize is not None and not isinstance(normalize, dict):
        raise PolicyError(f"{path / NORMALIZE_FILE}: expected an object or null")
    return meta, normalize


def build_network(meta: dict[str, Any]) -> Any:
    """A fresh (untrained) SB3 policy network of the architecture ``meta`` describes."""
    from stocklab.envs.inventory_env import InventoryEnv

    algo = algorithm_class(meta["algo"])
    hp = meta["hyperparams"]
    policy_name = hp.get("policy", "MlpPolicy")
    policy_cls = algo.policy_aliases.get(policy_name) if isinstance(policy_name, str) else None
    if policy_cls is None:
        raise PolicyError(f"hyperparams.policy: {policy_name!r} is not a policy of {meta['algo']}")
    env = InventoryEnv(meta["env_config"])
    return policy_cls(
        env.observation_space,
        env.action_space,
        lambda _: 0.0,
        **policy_kwargs_from_config(hp.get("policy_kwargs")),
    )


def load_network_params(network: Any, zip_path: Path) -> None:
    """Load the ``policy`` tensors of an SB3 zip into ``network`` (tensors only, no unpickling)."""
    from stable_baselines3.common.save_util import load_from_zip_file

    try:
        _, params, _ = load_from_zip_file(zip_path, device="cpu", load_data=False)
        network.load_state_dict(params["policy"])
    except pickle.UnpicklingError:  # torch's weights-only loader refused a non-tensor object
        raise PolicyError(
            f"{zip_path}: holds objects other than tensors (code, perhaps); refused without running them"
        ) from None
    except (KeyError, RuntimeError, ValueError, OSError) as exc:
        raise PolicyError(
            f"{zip_path}: parameters do not fit the network ({type(exc).__name__}: {exc})"
        ) from None
    network.set_training_mode(False)


def snapshot_network(network: Any, meta: dict[str, Any]) -> Any:
    """An independent copy of ``network`` (later training does not change it); ``meta`` as in agent.json."""
    copy_ = build_network(meta)
    copy_.load_state_dict(network.state_dict())
    copy_.set_training_mode(False)
    return copy_
