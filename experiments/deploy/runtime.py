"""The deployment runtime: load an exported policy and decide orders from named state fields.

Imports neither torch nor stable_baselines3: an ONNX policy runs on onnxruntime, every other kind on
numpy and the policy classes it was exported from. ``load_policy`` verifies the checksums and the
format version before anything is used.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stocklab.envs.config import EnvConfig, parse_env_config
from stocklab.envs.core.errors import PolicyError
from stocklab.envs.core.obs import ObsSpec
from stocklab.envs.core.policy import ActionMap, Policy
from stocklab.experiments.deploy.artefact import verify

#: kind of artefact -> function(directory, manifest, env_config) -> batch action function
Loader = Callable[[Path, dict[str, Any], EnvConfig], Callable[[np.ndarray], np.ndarray]]
LOADERS: dict[str, Loader] = {}


def loader(kind: str) -> Callable[[Loader], Loader]:
    """Register the loader of one artefact kind."""

    def register(fn: Loader) -> Loader:
        LOADERS[kind] = fn
        return fn

    return register


def _policy_actions(policy: Policy) -> Callable[[np.ndarray], np.ndarray]:
    return lambda obs: np.fromiter((policy.act(o) for o in obs), dtype=np.int64, count=len(obs))


@loader("params")
def _load_params(
    directory: Path, manifest: dict[str, Any], env: EnvConfig
) -> Callable[[np.ndarray], np.ndarray]:
    from stocklab.experiments.kinds import REGISTRY

    spec = json.loads((directory / "params.json").read_text())
    return _policy_actions(REGISTRY.get(spec["kind"]).rebuild(env, spec["params"]))


@loader("table")
def _load_table(
    directory: Path, manifest: dict[str, Any], env: EnvConfig
) -> Callable[[np.ndarray], np.ndarray]:
    from stocklab.agents.tabular.discretize import GridDiscretizer

    with np.load(directory / "greedy.npz", allow_pickle=False) as data:
        greedy = np.asarray(data["actions"], dtype=np.int64)
    encode = GridDiscretizer.from_json(json.loads((directory / "discretizer.json").read_text())).encode
    return lambda obs: greedy[[encode(o) for o in obs]]


@loader("dp_table")
def _load_dp_table(
    directory: Path, manifest: dict[str, Any], env: EnvConfig
) -> Callable[[np.ndarray], np.ndarray]:
    from stocklab.baselines.exact.tables import load_optimal

    return _policy_actions(load_optimal(directory, env))


@loader("onnx")
def _load_onnx(
    directory: Path, manifest: dict[str, Any], env: EnvConfig
) -> Callable[[np.ndarray], np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(
        str(directory / "policy.onnx"), sess_options=options, providers=["CPUExecutionProvider"]
    )
    name = session.get_inputs()[0].name

    def actions(obs: np.ndarray) -> np.ndarray:
        return session.run(None, {name: obs.astype(np.float32, copy=False)})[0].reshape(-1)

    return actions


class DeployedPolicy:
    """An exported policy, ready to decide orders (units) from states given by field name."""

    def __init__(self, directory: Path, manifest: dict[str, Any]) -> None:
        self.directory = directory
        self.manifest = manifest
        self.env_config = parse_env_config(manifest["env_config"])
        self.obs_spec = ObsSpec.from_json(manifest["obs_spec"])
        action = manifest["action"]
        self.action_map = ActionMap(action["mode"], action["max_order"], action.get("max_level"))
        kind = manifest["artefact"]
        if kind not in LOADERS:
            raise PolicyError(
                f"{directory}: artefact kind {kind!r} unknown (known: {', '.join(sorted(LOADERS))})"
            )
        self._actions = LOADERS[kind](directory, manifest, self.env_config)
        self._ip = self.obs_spec.index("inventory_position").start

    @property
    def name(self) -> str:
        """The policy's name in the training run."""
        return str(self.manifest["policy"]["name"])

    def observations(self, states: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Observation vectors (one row per state); PolicyError names the bad field and state index."""
        rows = []
        for i, state in enumerate(states):
            if not isinstance(state, Mapping):
                raise PolicyError(
                    f"states[{i}]: expected an object of named fields, got {type(state).__name__}"
                )
            try:
                rows.append(self.obs_spec.vector(state))
            except PolicyError as exc:
                raise PolicyError(f"states[{i}]: {exc}" if len(states) > 1 else str(exc)) from None
        return np.vstack(rows) if rows else np.empty((0, self.obs_spec.size), dtype=np.float32)

    def orders_from_observations(self, obs: np.ndarray) -> np.ndarray:
        """Order quantities (units) for a batch of observation vectors (``ActionMap.order``, vectorised)."""
        actions = np.asarray(self._actions(obs)).astype(np.int64)
        if self.action_map.mode == "quantity":
            return actions
        # np.rint rounds half to even, like round() in ActionMap.order
        ip = np.rint(obs[:, self._ip].astype(np.float64)).astype(np.int64)
        return np.clip(actions - ip, 0, self.action_map.max_order)

    def decide(self, state: Mapping[str, Any]) -> int:
        """The order (units) for one state, e.g. ``{"on_hand": 7, "pipeline": [5, 3]}``."""
        if not isinstance(state, Mapping):
            raise PolicyError(f"state: expected an object of named fields, got {type(state).__name__}")
        obs = self.obs_spec.vector(state)
        action = int(self._actions(obs[None])[0])
        return self.action_map.order(action, float(obs[self._ip]))

    def decide_batch(self, states: Sequence[Mapping[str, Any]]) -> list[int]:
        """Orders (units) for many states (e.g. one per SKU)."""
        return self.orders_from_observations(self.observations(states)).tolist()


def load_policy(directory: str | Path) -> DeployedPolicy:
    """Verify and load an exported policy directory."""
    directory = Path(directory)
    return DeployedPolicy(directory, verify(directory))
