"""ONNX export of Stable-Baselines3 policies (the only exporter that needs torch).

The graph maps the raw observation vector (float32, batch x n) to the deterministic action (int64):
VecNormalize's obs_n = clip((obs - mean) / sqrt(var + eps), -clip_obs, clip_obs), computed in float64
as the in-process policy does, then the actor network and the argmax of its logits (PPO, A2C: the mode
of the categorical distribution) or of the Q-values (DQN).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from stocklab.envs.core.errors import PolicyError
from stocklab.envs.core.policy import Policy
from stocklab.experiments.deploy.export import writer

OPSET = 17


def _actor_module(policy: Any) -> Any:
    import torch

    net = policy.network

    class Actor(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net
            norm = policy._mean is not None
            size = policy.obs_spec.size
            self.register_buffer(
                "mean", torch.as_tensor(policy._mean if norm else np.zeros(size), dtype=torch.float64)
            )
            self.register_buffer(
                "scale", torch.as_tensor(policy._scale if norm else np.ones(size), dtype=torch.float64)
            )
            self.clip = float(policy._clip) if norm else float("inf")
            self.norm = norm

        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            x = obs
            if self.norm:
                x = torch.clamp((obs.to(torch.float64) - self.mean) / self.scale, -self.clip, self.clip)
                x = x.to(torch.float32)
            if hasattr(self.net, "q_net"):
                return torch.argmax(self.net.q_net(x), dim=1)
            features = self.net.pi_features_extractor(x)
            latent = self.net.mlp_extractor.forward_actor(features)
            return torch.argmax(self.net.action_net(latent), dim=1)

    return Actor().eval()


@writer("onnx")
def write_onnx(policy: Policy, directory: Path, kind: str) -> None:
    """Write ``policy.onnx`` for an SB3Policy."""
    import torch

    if not hasattr(policy, "network"):
        raise PolicyError(f"{policy.name}: ONNX export needs an SB3 policy network")
    module = _actor_module(policy)
    dummy = torch.zeros((1, policy.obs_spec.size), dtype=torch.float32)
    # The TorchScript exporter (dynamo=False) is deliberate: the dynamo one needs onnxscript and
    # trips over SB3's distribution argument checks. Its deprecation notice is expected.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", category=DeprecationWarning, message=".*legacy TorchScript-based ONNX"
        )
        torch.onnx.export(
            module, (dummy,), str(directory / "policy.onnx"), input_names=["observation"], output_names=["action"],
            dynamic_axes={"observation": {0: "batch"}, "action": {0: "batch"}}, opset_version=OPSET, dynamo=False,
        )  # fmt: skip
