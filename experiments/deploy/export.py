"""Export a policy into a deployable artefact directory (see :mod:`stocklab.experiments.deploy.artefact`)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from stocklab.baselines.exact.tables import save_optimal
from stocklab.envs.config import EnvConfig
from stocklab.envs.core.errors import PolicyError
from stocklab.envs.core.kinds import PolicyKind
from stocklab.envs.core.obs import ObsSpec
from stocklab.envs.core.policy import ActionMap, Policy
from stocklab.experiments.deploy.artefact import seal

#: policy.exportable -> writer(policy, directory) that writes the kind's files
Writer = Callable[[Policy, Path], None]
WRITERS: dict[str, Writer] = {}


def writer(kind: str) -> Callable[[Writer], Writer]:
    """Register the writer of one artefact kind."""

    def register(fn: Writer) -> Writer:
        WRITERS[kind] = fn
        return fn

    return register


@writer("params")
def _write_params(policy: Policy, directory: Path) -> None:
    (directory / "params.json").write_text(
        json.dumps({"kind": policy.name, "params": policy.params()}, indent=2)
    )


@writer("table")
def _write_table(policy: Policy, directory: Path) -> None:
    """The greedy action of every discrete state and the discretiser that maps observations to states."""
    np.savez(directory / "greedy.npz", actions=policy.greedy_actions())  # type: ignore[attr-defined]
    (directory / "discretizer.json").write_text(json.dumps(policy.discretizer.to_json(), indent=1))  # type: ignore[attr-defined]


@writer("dp_table")
def _write_dp_table(policy: Policy, directory: Path) -> None:
    """The DP's optimal order of every state of its (bounded) state space, and those bounds."""
    save_optimal(policy, directory)  # type: ignore[arg-type]


def export_policy(
    policy: Policy,
    env_config: EnvConfig,
    out: str | Path,
    *,
    name: str | None = None,
    training_manifest_sha256: str | None = None,
    overwrite: bool = True,
    kind: PolicyKind | None = None,
) -> dict[str, Any]:
    """Write ``policy`` (trained for ``env_config``) to directory ``out``; return the manifest.

    ``kind``: the policy's kind when it comes from a run; its declaration decides whether and how it
    exports (without it, the policy's own ``exportable`` does). The directory is assembled beside
    ``out`` and renamed into place, so a reader never sees a half-written artefact.
    """
    label = name or policy.name
    fmt = policy.exportable if kind is None else kind.export
    if kind is not None and fmt is None:
        raise PolicyError(
            f"policy {label!r}: kind '{kind.name}' declares no export format, so it cannot be exported"
        )
    if fmt == "onnx":
        import stocklab.experiments.deploy.onnx  # noqa: F401  (registers the writer; imports torch)
    if fmt is None or fmt not in WRITERS:
        raise PolicyError(f"policy {label!r} ({type(policy).__name__}) cannot be exported")
    out = Path(out)
    if out.exists() and not overwrite:
        raise PolicyError(f"{out}: already exists")
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    WRITERS[fmt](policy, staging)
    amap = ActionMap.for_config(env_config)
    manifest = seal(
        staging,
        {
            "policy": {"name": name or policy.name, "kind": policy.name, "class": type(policy).__name__},
            "artefact": fmt,
            "obs_spec": ObsSpec.for_config(env_config).to_json(),
            "action": {
                "mode": amap.mode,
                "max_order": amap.max_order,
                "max_level": amap.max_level,
                "order": "quantity: order = action; order_up_to: order = min(max_order, max(0, action - inventory_position))",
            },
            "env_config": portable_env_config(env_config),
            "training_manifest_sha256": training_manifest_sha256,
        },
    )
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return manifest


def portable_env_config(env_config: EnvConfig) -> dict[str, Any]:
    """The env config as JSON, with a replayed demand file embedded as values (no outside paths)."""
    data = env_config.model_dump(mode="json", by_alias=True)
    demand = data.get("demand", {})
    if demand.get("path") is not None and demand.get("values") is not None:
        demand["path"] = None
    return data
