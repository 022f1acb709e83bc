"""Export a policy into a deployable artefact directory (see :mod:`stocklab.experiments.deploy.artefact`).

The artefact is assembled in a fresh hidden folder beside the target, sealed (checksums, optional
signature), loaded back by the runtime with every check a user's ``load_policy`` applies, and only
then moved into place, so a reader never sees a half-written artefact and an export never produces
one the runtime would refuse. The target is checked first (:func:`~stocklab.experiments.deploy.paths.
check_artefact_dir`): a new or empty folder, or, with ``force``, a folder that holds exactly a
previous artefact. Nothing else is ever deleted: the staging folder is this export's own, and a
replaced artefact loses exactly the files its manifest lists.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from stocklab.baselines.exact.tables import save_optimal
from stocklab.envs.config import EnvConfig
from stocklab.envs.core.errors import ConfigError, PolicyError
from stocklab.envs.core.kinds import PolicyKind
from stocklab.envs.core.obs import ObsSpec
from stocklab.envs.core.policy import ActionMap, Policy
from stocklab.envs.core.storage import write_bytes, write_json
from stocklab.experiments.deploy.artefact import MANIFEST, artefact_contents, seal
from stocklab.experiments.deploy.bounds import SHIPPED_HISTORIES
from stocklab.experiments.deploy.paths import aside_name, check_artefact_dir

#: policy.exportable -> writer(policy, directory, kind name) that writes the kind's files
Writer = Callable[[Policy, Path, str], None]
WRITERS: dict[str, Writer] = {}


def writer(kind: str) -> Callable[[Writer], Writer]:
    """Register the writer of one artefact kind."""

    def register(fn: Writer) -> Writer:
        WRITERS[kind] = fn
        return fn

    return register


@writer("params")
def _write_params(policy: Policy, directory: Path, kind: str) -> None:
    write_json(directory / "params.json", {"kind": kind, "params": policy.params()})


@writer("table")
def _write_table(policy: Policy, directory: Path, kind: str) -> None:
    """The greedy action of every discrete state and the discretiser that maps observations to states."""
    buf = io.BytesIO()
    np.savez(buf, actions=np.asarray(policy.greedy_actions(), dtype=np.int64))  # type: ignore[attr-defined]
    write_bytes(directory / "greedy.npz", buf.getvalue())
    write_json(directory / "discretizer.json", policy.discretizer.to_json())  # type: ignore[attr-defined]


@writer("dp_table")
def _write_dp_table(policy: Policy, directory: Path, kind: str) -> None:
    """The DP's optimal order of every state of its (bounded) state space, and those bounds."""
    save_optimal(policy, directory)  # type: ignore[arg-type]


def _format_of(policy: Policy, kind: PolicyKind | None, label: str) -> str:
    fmt = policy.exportable if kind is None else kind.export
    if kind is not None and fmt is None:
        raise PolicyError(
            f"policy {label!r}: kind '{kind.name}' declares no export format, so it cannot be exported"
        )
    if fmt == "onnx":
        import stocklab.experiments.deploy.onnx  # noqa: F401  (registers the writer; imports torch)
    if fmt is None or fmt not in WRITERS:
        raise PolicyError(f"policy {label!r} ({type(policy).__name__}) cannot be exported")
    return fmt


def export_policy(
    policy: Policy,
    env_config: EnvConfig,
    out: str | Path,
    *,
    name: str | None = None,
    training_manifest_sha256: str | None = None,
    force: bool = False,
    kind: PolicyKind | None = None,
    key: bytes | None = None,
    protect: Iterable[str | Path] = (),
) -> dict[str, Any]:
    """Write ``policy`` (trained for ``env_config``) to the new or empty folder ``out``; return the manifest.

    ``kind``: the policy's kind when it comes from a run; its declaration decides whether and how it
    exports (without it, the policy's own ``exportable`` does). ``force``: replace ``out`` when it
    holds exactly a previous stocklab artefact. ``key``: sign the manifest (HMAC-SHA256).
    ``protect``: folders the artefact must stay out of (the run folder being exported).
    ConfigError (a refused ``out``) and PolicyError come before anything is written.
    """
    label = name or policy.name
    fmt = _format_of(policy, kind, label)
    target = check_artefact_dir(out, force=force, protect=protect)
    kind_name = kind.name if kind is not None else policy.name
    amap = ActionMap.for_config(env_config)
    env_data, source = portable_env_config(env_config)
    with staged(target) as staging:
        WRITERS[fmt](policy, staging, kind_name)
        manifest = seal(
            staging,
            {
                "policy": {"name": label, "kind": kind_name, "class": type(policy).__name__},
                "artefact": fmt,
                "obs_spec": ObsSpec.for_config(env_config).to_json(),
                "action": {
                    "mode": amap.mode,
                    "max_order": amap.max_order,
                    "max_level": amap.max_level,
                    "order": "quantity: order = action; order_up_to: order = min(max_order, max(0, action - inventory_position))",
                },
                "env_config": env_data,
                **({"demand_source": source} if source is not None else {}),
                "training_manifest_sha256": training_manifest_sha256,
            },
            key,
        )
        _self_check(staging, key, label)
        place(staging, target, force)
    return manifest


@contextmanager
def staged(target: Path) -> Iterator[Path]:
    """A fresh hidden folder beside ``target`` to assemble an artefact in; removed afterwards, whatever happens.

    The name is new (:func:`aside_name`), so the folder removed is always this export's own, never a
    user's; :func:`place` moves it into place before that when all went well.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = aside_name(target, "partial")
    staging.mkdir()  # mode 0777 minus the umask
    try:
        yield staging
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _self_check(staging: Path, key: bytes | None, label: str) -> None:
    """Load the staged artefact as a user would; PolicyError when the runtime would refuse it."""
    from stocklab.experiments.deploy.runtime import load_policy

    try:
        load_policy(staging, key=key, require_signature=key is not None)
    except PolicyError as exc:
        raise PolicyError(
            f"policy {label!r}: the exported artefact would be refused when loaded: {exc}"
        ) from None


def place(staging: Path, target: Path, force: bool) -> None:
    """Move the staged artefact to ``target``, replacing a previous artefact there only with ``force``."""
    check_artefact_dir(target, force=force)  # again: the folder may have changed since the first check
    old = artefact_contents(target) if target.is_dir() and any(target.iterdir()) else None
    if old is None:
        try:
            os.rename(staging, target)  # atomic; onto an empty folder it replaces it
        except OSError as exc:
            raise ConfigError(
                f"--out {str(target)!r}: cannot move the artefact into place ({exc.strerror})"
            ) from None
        return
    aside = aside_name(target, "replaced")
    os.rename(target, aside)
    try:
        os.rename(staging, target)
    except OSError:
        os.rename(aside, target)
        raise
    for entry in old:  # exactly the old artefact's files, checked above
        (aside / entry).unlink(missing_ok=True)
    try:
        aside.rmdir()
    except OSError:
        pass  # something appeared in it meanwhile: keep it rather than delete what export did not write


def portable_env_config(env_config: EnvConfig) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The env config as JSON with no paths of this machine, and the original demand when it changed.

    A replayed demand file is embedded as values; a sales history read from a file (not one of the
    shipped histories) becomes a replay of the window it reads. PolicyError for a forecast-fed
    demand fitted on a file, which an artefact cannot carry.
    """
    data = env_config.model_dump(mode="json", by_alias=True)
    demand = data.get("demand", {})
    if demand.get("dist") == "replay" and demand.get("path") is not None and demand.get("values") is not None:
        demand["path"] = None
        return data, None
    path = demand.get("path")
    if path is None or path in SHIPPED_HISTORIES:
        return data, None
    if demand.get("dist") == "history":
        model = env_config.demand
        data["demand"] = {
            "dist": "replay",
            "values": list(model.values),
            "at_end": demand.get("at_end", "cycle"),
        }  # type: ignore[union-attr]
        return data, demand
    raise PolicyError(
        f"env.demand.path {path!r}: a {demand.get('dist')} demand fitted on a file of this machine cannot be "
        f"exported; artefacts carry only the shipped histories ({', '.join(SHIPPED_HISTORIES)})"
    )


__all__ = ["MANIFEST", "WRITERS", "export_policy", "portable_env_config", "writer"]
