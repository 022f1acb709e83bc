"""The deployment runtime: load an exported policy and decide orders from named state fields.

Imports neither torch nor stable_baselines3: an ONNX policy runs on onnxruntime, every other kind on
numpy and the policy classes it was exported from. ``load_policy`` verifies the checksums, the
format version and (when asked) the signature, then checks every parameter against its declared
kind and the bounds of :mod:`~stocklab.experiments.deploy.bounds` before anything is built from it.
Nothing is unpickled.

A state is a mapping of the ObsSpec's field names to numbers (lists for vector fields), e.g.
``{"on_hand": 7, "pipeline": [5, 3]}``; ``backlog`` defaults to 0 and ``inventory_position`` is
derived as on hand + pipeline - backlog when absent, and must equal that sum when given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stocklab.envs.config import EnvConfig, parse_env_config
from stocklab.envs.core.errors import PolicyError, StocklabError
from stocklab.envs.core.obs import ObsSpec
from stocklab.envs.core.policy import ActionMap, Policy
from stocklab.experiments.deploy import bounds
from stocklab.experiments.deploy.arrays import check_dp_bounds, npz_arrays, npz_headers
from stocklab.experiments.deploy.artefact import parse_json, read_artefact
from stocklab.experiments.deploy.state_vector import StateVectors

#: kind of artefact -> function(files, manifest, env_config, where) -> batch action function
Loader = Callable[[dict[str, bytes], dict[str, Any], EnvConfig, str], Callable[[np.ndarray], np.ndarray]]
LOADERS: dict[str, Loader] = {}
#: The files each kind of artefact consists of (besides manifest.json).
FILES: dict[str, set[str]] = {
    "params": {"params.json"},
    "table": {"greedy.npz", "discretizer.json"},
    "dp_table": {"dp_table.npz", "dp_bounds.json"},
    "onnx": {"policy.onnx"},
}
#: Rows evaluated at once by an ONNX policy (bounds the memory of one batch).
ONNX_CHUNK = 256


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
    files: dict[str, bytes], manifest: dict[str, Any], env: EnvConfig, where: str
) -> Callable[[np.ndarray], np.ndarray]:
    from stocklab.experiments.kinds import REGISTRY

    spec = parse_json(files["params.json"], f"{where}/params.json")
    kind_name = manifest["policy"]["kind"]
    if not isinstance(spec, dict) or set(spec) != {"kind", "params"} or spec["kind"] != kind_name:
        raise PolicyError(f"{where}/params.json: expected {{'kind': {kind_name!r}, 'params': {{...}}}}")
    if kind_name not in REGISTRY or REGISTRY.get(kind_name).export != "params":
        raise PolicyError(f"{where}: kind {kind_name!r} is not a kind exported as params")
    params = bounds.check_params(kind_name, spec["params"], env, f"{where}/params.json")
    try:
        policy = REGISTRY.get(kind_name).rebuild(env, dict(params))
    except StocklabError as exc:
        raise PolicyError(f"{where}/params.json: {exc}") from None
    except TypeError as exc:  # a parameter name the kind does not take
        raise PolicyError(f"{where}/params.json: {exc}") from None
    return _policy_actions(policy)


@loader("table")
def _load_table(
    files: dict[str, bytes], manifest: dict[str, Any], env: EnvConfig, where: str
) -> Callable[[np.ndarray], np.ndarray]:
    from stocklab.agents.tabular.discretize import GridDiscretizer

    record = parse_json(files["discretizer.json"], f"{where}/discretizer.json")
    states = bounds.check_discretizer(record, ObsSpec.for_config(env).size, f"{where}/discretizer.json")
    shape, dtype = npz_headers(files["greedy.npz"], ("actions",), f"{where}/greedy.npz")["actions"]
    if shape != (states,) or dtype.kind not in "iu":
        raise PolicyError(
            f"{where}/greedy.npz: actions of shape {shape} and type {dtype}; expected {states:,} integers "
            "(one per state of the discretiser)"
        )
    greedy = npz_arrays(files["greedy.npz"], ("actions",), f"{where}/greedy.npz")["actions"].astype(np.int64)
    top = bounds.n_actions(env) - 1
    if greedy.size and (greedy.min() < 0 or greedy.max() > top):
        raise PolicyError(f"{where}/greedy.npz: actions outside the env's action space 0..{top}")
    encode = GridDiscretizer.from_json(record).encode
    return lambda obs: greedy[[encode(o) for o in obs]] if len(obs) else np.empty(0, dtype=np.int64)


@loader("dp_table")
def _load_dp_table(
    files: dict[str, bytes], manifest: dict[str, Any], env: EnvConfig, where: str
) -> Callable[[np.ndarray], np.ndarray]:
    from stocklab.baselines.exact.model import MAX_STATES
    from stocklab.baselines.exact.solver import DPInstance, OptimalPolicy

    label = f"{where}/dp_table.npz"
    heads = npz_headers(files["dp_table.npz"], ("states", "orders"), label)
    (shape, s_type), (o_shape, o_type) = heads["states"], heads["orders"]
    m = max(int(env.lead_time.fixed or 0) - 1, 0)
    rows = shape[0] if len(shape) == 2 else -1
    if (
        len(shape) != 2
        or shape[1] != 1 + m
        or o_shape != (rows,)
        or s_type.kind not in "iu"
        or o_type.kind not in "iu"
    ):
        raise PolicyError(
            f"{label}: states {shape} and orders {o_shape}; expected (n, {1 + m}) and (n,) integers"
        )
    meta = parse_json(files["dp_bounds.json"], f"{where}/dp_bounds.json")
    dp_bounds = check_dp_bounds(meta, env, rows, MAX_STATES, f"{where}/dp_bounds.json")
    bounds.check_demand_span(env, where, dp_bounds["tol"])
    arrays = npz_arrays(files["dp_table.npz"], ("states", "orders"), label)
    orders = arrays["orders"].astype(np.int64)
    if orders.size and (orders.min() < 0 or orders.max() > env.max_order):
        raise PolicyError(f"{label}: orders outside 0..max_order={env.max_order}")
    tol = dp_bounds.pop("tol")
    try:
        instance = DPInstance.from_config(env, tol, **dp_bounds)
    except StocklabError as exc:
        raise PolicyError(f"{where}: {exc}") from None
    if not np.array_equal(instance.states, arrays["states"]):
        raise PolicyError(f"{where}: the DP table does not match the state space of its env config")
    return _policy_actions(
        OptimalPolicy(ObsSpec.for_config(env), ActionMap.for_config(env), instance, orders)
    )


@loader("onnx")
def _load_onnx(
    files: dict[str, bytes], manifest: dict[str, Any], env: EnvConfig, where: str
) -> Callable[[np.ndarray], np.ndarray]:
    import onnxruntime as ort

    from stocklab.experiments.deploy.onnx_graph import check_graph

    model = files["policy.onnx"]
    check_graph(model, ObsSpec.for_config(env).size, bounds.n_actions(env), f"{where}/policy.onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-wait between calls
    try:
        session = ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for invalid models
        raise PolicyError(f"{where}/policy.onnx: onnxruntime refuses the model ({exc})") from None
    name = session.get_inputs()[0].name

    def actions(obs: np.ndarray) -> np.ndarray:
        x = obs.astype(np.float32, copy=False)
        parts = [
            session.run(None, {name: x[i : i + ONNX_CHUNK]})[0].reshape(-1)
            for i in range(0, len(x), ONNX_CHUNK)
        ]
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    return actions


def _check_manifest(manifest: dict[str, Any], where: str) -> EnvConfig:
    """Check the manifest's structure and env config; return the env config (PolicyError if bad)."""
    policy = manifest.get("policy")
    if not isinstance(policy, dict) or not all(isinstance(policy.get(k), str) for k in ("name", "kind")):
        raise PolicyError(f"{where}: manifest 'policy' must hold the strings 'name' and 'kind'")
    kind = manifest.get("artefact")
    if kind not in LOADERS:
        raise PolicyError(f"{where}: artefact kind {kind!r} unknown (known: {', '.join(sorted(LOADERS))})")
    if set(manifest["files"]) != FILES[kind]:
        raise PolicyError(
            f"{where}: a {kind!r} artefact consists of {sorted(FILES[kind])}; the manifest lists "
            f"{sorted(manifest['files'])}"
        )
    bounds.check_env_data(manifest.get("env_config"), where)
    try:
        env = parse_env_config(manifest.get("env_config"))
    except StocklabError as exc:
        raise PolicyError(f"{where}: manifest env_config: {exc}") from None
    bounds.check_env(env, where)
    if manifest.get("obs_spec") != ObsSpec.for_config(env).to_json():
        raise PolicyError(f"{where}: the manifest's obs_spec does not match its env config")
    amap = ActionMap.for_config(env)
    action = manifest.get("action")
    if not isinstance(action, dict) or (action.get("mode"), action.get("max_order"), action.get("max_level")) != (
        amap.mode, amap.max_order, amap.max_level
    ):  # fmt: skip
        raise PolicyError(f"{where}: the manifest's action mapping does not match its env config")
    return env


class DeployedPolicy(StateVectors):
    """An exported policy, ready to decide orders (units) from states given by field name."""

    def __init__(
        self, directory: Path, manifest: dict[str, Any], files: dict[str, bytes] | None = None
    ) -> None:
        self.directory = Path(directory)
        if files is None:
            checked, files = read_artefact(self.directory)
            if checked != manifest:
                raise PolicyError(f"{directory}: the manifest changed while the policy was loaded")
        self.manifest = manifest
        where = str(self.directory)
        self.env_config = _check_manifest(manifest, where)
        self.obs_spec = ObsSpec.for_config(self.env_config)
        self.action_map = ActionMap.for_config(self.env_config)
        self._n_actions = bounds.n_actions(self.env_config)
        self._actions = LOADERS[manifest["artefact"]](files, manifest, self.env_config, where)
        self._ip = self.obs_spec.index("inventory_position").start
        self._fields = [f.name for f in self.obs_spec.fields]

    @property
    def name(self) -> str:
        """The policy's name in the training run."""
        return str(self.manifest["policy"]["name"])

    def orders_from_observations(self, obs: np.ndarray) -> np.ndarray:
        """Order quantities (units) for a batch of observation vectors (``ActionMap.order``, vectorised)."""
        actions = np.asarray(self._actions(obs), dtype=np.int64).reshape(-1)
        if len(actions) != len(obs):
            raise PolicyError(
                f"{self.directory}: the policy returned {len(actions)} actions for {len(obs)} states"
            )
        bad = (actions < 0) | (actions >= self._n_actions)
        if bad.any():
            raise PolicyError(
                f"{self.directory}: the policy returned action {int(actions[bad][0])}, outside the env's "
                f"action space 0..{self._n_actions - 1}"
            )
        if self.action_map.mode == "quantity":
            return actions
        # np.rint rounds half to even, like round() in ActionMap.order
        ip = np.rint(obs[:, self._ip].astype(np.float64)).astype(np.int64)
        return np.clip(actions - ip, 0, self.action_map.max_order)

    def decide(self, state: Mapping[str, Any]) -> int:
        """The order (units) for one state, e.g. ``{"on_hand": 7, "pipeline": [5, 3]}``."""
        return int(self.orders_from_observations(self.vector(state)[None])[0])

    def decide_batch(self, states: Sequence[Mapping[str, Any]]) -> list[int]:
        """Orders (units) for many states (e.g. one per SKU)."""
        return [int(q) for q in self.orders_from_observations(self.observations(states))]


def load_policy(
    directory: str | Path, *, key: bytes | None = None, require_signature: bool = False
) -> DeployedPolicy:
    """Verify and load an exported policy directory.

    ``key``: the signing key (see :func:`stocklab.experiments.deploy.signing.load_key`); a signed
    policy must then verify under it. ``require_signature``: refuse a policy that is not signed, or
    whose signature cannot be checked for want of a key.
    """
    directory = Path(directory)
    manifest, files = read_artefact(directory, key, require_signature)
    if manifest.get("artefact") == "catalogue":
        raise PolicyError(
            f"{directory}: a catalogue policy (one decision for all its SKUs); load it with "
            "stocklab.experiments.deploy.catalogue_runtime.load_catalogue"
        )
    return DeployedPolicy(directory, manifest, files)


def load_deployed(directory: str | Path, *, key: bytes | None = None, require_signature: bool = False) -> Any:
    """A single-SKU :class:`DeployedPolicy` or a :class:`~.catalogue_runtime.DeployedCatalogue`, by artefact kind."""
    from stocklab.experiments.deploy.catalogue_runtime import DeployedCatalogue

    directory = Path(directory)
    manifest, files = read_artefact(directory, key, require_signature)
    if manifest.get("artefact") == "catalogue":
        return DeployedCatalogue(directory, manifest, files)
    return DeployedPolicy(directory, manifest, files)
