"""The exportable form of a shared catalogue policy: an MLP's weights and its observation statistics.

:class:`SharedNetwork` is what a trained shared PPO policy is once training is over: plain NumPy
arrays, JSON-ready (:meth:`SharedNetwork.to_dict`), deciding without torch. For a (N, d) batch of
scale-free observations x (the table of :class:`~stocklab.envs.catalogue_env.CatalogueVectorEnv`):

    z = clip((x - mean) / sqrt(var + epsilon), -clip_obs, clip_obs)     (SB3's VecNormalize)
    h_0 = z,  h_k = act(W_k h_(k-1) + b_k)                              (the policy network)
    action = argmax(W_a h_K + b_a)                                      (the mode of the categorical)

computed in float32 like the torch network it came from; action k asks for an inventory position of
``levels[k]`` periods of the SKU's mean demand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from stocklab.envs.core.errors import PolicyError

#: Activations by the names the export uses; each overwrites its (float32) argument and returns it.
ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": lambda x: np.tanh(x, out=x),
    "relu": lambda x: np.maximum(x, 0.0, out=x),
}
#: Format name written into every export.
FORMAT = "stocklab-shared-network"


@dataclass(frozen=True)
class SharedNetwork:
    """An MLP policy over scale-free SKU observations (module docstring), with its statistics.

    ``weights[k]`` (out, in) and ``biases[k]`` (out,) are the hidden layers, then the action head;
    ``obs_mean`` / ``obs_var`` (d,) with ``clip_obs`` and ``epsilon`` normalise observations;
    ``levels`` (A,) is the action grid in periods of demand; ``obs_names`` names the d inputs;
    ``layout`` lists the stock fields of the inputs as (name, size) pairs (the env's ``layout``).
    """

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    activation: str
    obs_mean: np.ndarray
    obs_var: np.ndarray
    clip_obs: float
    epsilon: float
    levels: np.ndarray
    obs_names: list[str]
    layout: list[tuple[str, int]]

    @property
    def obs_size(self) -> int:
        """Number of inputs d."""
        return int(self.obs_mean.shape[0])

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        """Observations as the network saw them in training (float32), SB3's VecNormalize formula."""
        z = (np.asarray(obs, dtype=np.float64) - self.obs_mean) / np.sqrt(self.obs_var + self.epsilon)
        return np.clip(z, -self.clip_obs, self.clip_obs).astype(np.float32)

    def logits(self, obs: np.ndarray) -> np.ndarray:
        """(N, A) action logits for (N, d) scale-free observations."""
        x = self.normalize(obs)
        if x.ndim != 2 or x.shape[1] != self.obs_size:
            raise PolicyError(f"observations of shape {x.shape}; the network takes (N, {self.obs_size})")
        act = ACTIVATIONS[self.activation]
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            z = x @ w.T  # float32, as the torch layer computes it; then in place (no temporaries)
            z += b
            x = act(z)
        return x @ self.weights[-1].T + self.biases[-1]

    def actions(self, obs: np.ndarray) -> np.ndarray:
        """(N,) int64 greedy actions (indices into ``levels``)."""
        return np.argmax(self.logits(obs), axis=1).astype(np.int64)

    # ------------------------------------------------------------------------- export
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; float32 values are written as the doubles they equal, so it round-trips exactly."""
        return {
            "format": FORMAT,
            "activation": self.activation,
            "layers": [{"weight": w.tolist(), "bias": b.tolist()} for w, b in zip(self.weights, self.biases)],
            "obs_mean": self.obs_mean.tolist(),
            "obs_var": self.obs_var.tolist(),
            "clip_obs": self.clip_obs,
            "epsilon": self.epsilon,
            "levels": self.levels.tolist(),
            "obs_names": list(self.obs_names),
            "layout": [[n, k] for n, k in self.layout],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SharedNetwork:
        """The network of :meth:`to_dict`'s output; PolicyError naming the first field that does not fit."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise PolicyError(f"not a shared network export (format must be '{FORMAT}')")
        act = data.get("activation")
        if act not in ACTIVATIONS:
            raise PolicyError(f"network.activation: {act!r}; allowed: {', '.join(ACTIVATIONS)}")
        try:
            weights = [np.asarray(layer["weight"], dtype=np.float32) for layer in data["layers"]]
            biases = [np.asarray(layer["bias"], dtype=np.float32) for layer in data["layers"]]
            mean = np.asarray(data["obs_mean"], dtype=np.float64)
            var = np.asarray(data["obs_var"], dtype=np.float64)
            levels = np.asarray(data["levels"], dtype=float)
            net = cls(weights, biases, act, mean, var, float(data["clip_obs"]), float(data["epsilon"]), levels,
                      [str(n) for n in data["obs_names"]],
                      [(str(n), int(k)) for n, k in data["layout"]])  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise PolicyError(f"shared network export: missing or malformed field ({exc})") from None
        net.check()
        return net

    def check(self) -> None:
        """PolicyError when the shapes do not chain (input d -> hidden ... -> len(levels))."""
        size = self.obs_size
        if self.obs_var.shape != (size,) or len(self.obs_names) != size or not self.weights:
            raise PolicyError(f"network: obs_mean, obs_var and obs_names must all have {size} entries")
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            if w.ndim != 2 or w.shape[1] != size or b.shape != (w.shape[0],):
                raise PolicyError(
                    f"network.layers[{k}]: weight {w.shape} / bias {b.shape} do not take {size} inputs"
                )
            if not (np.isfinite(w).all() and np.isfinite(b).all()):
                raise PolicyError(f"network.layers[{k}]: non-finite weights")
            size = w.shape[0]
        if size != len(self.levels) or (self.levels < 0).any():
            raise PolicyError(f"network: {size} outputs for {len(self.levels)} levels (levels must be >= 0)")


def network_from_sb3(
    model: Any, vecnorm: Any, levels: np.ndarray, obs_names: list[str], layout: list[tuple[str, int]]
) -> SharedNetwork:
    """The :class:`SharedNetwork` of a trained SB3 PPO/A2C ``MlpPolicy`` and its ``VecNormalize``."""
    import torch

    policy = model.policy
    linears = [m for m in policy.mlp_extractor.policy_net if isinstance(m, torch.nn.Linear)]
    acts = {
        type(m).__name__.lower()
        for m in policy.mlp_extractor.policy_net
        if not isinstance(m, torch.nn.Linear)
    }
    if len(acts) > 1 or (acts and next(iter(acts)) not in ACTIVATIONS):
        raise PolicyError(f"shared_ppo exports tanh or relu networks, not {sorted(acts)}")
    layers = [*linears, policy.action_net]
    with torch.no_grad():
        weights = [m.weight.detach().cpu().numpy().astype(np.float32).copy() for m in layers]
        biases = [m.bias.detach().cpu().numpy().astype(np.float32).copy() for m in layers]
    rms = vecnorm.obs_rms
    return SharedNetwork(
        weights, biases, next(iter(acts)) if acts else "tanh",
        np.asarray(rms.mean, dtype=np.float64).copy(), np.asarray(rms.var, dtype=np.float64).copy(),
        float(vecnorm.clip_obs), float(vecnorm.epsilon), np.asarray(levels, dtype=float), list(obs_names),
        list(layout),
    )  # fmt: skip
