"""Export one policy of a catalogue run as one artefact for the whole catalogue.

``stocklab export runs/<name> --policy P --out DIR`` on a catalogue run folder (one with
``catalogue_run.json``) writes a ``catalogue`` artefact (:mod:`~.catalogue_runtime`): the run's
tuning catalogue (:mod:`~.catalogue_record`) and the policy's saved parameters (per-SKU levels, the
coordinator's prices and rationing inputs, or the shared network). Before it is moved into place, the
staged artefact is loaded as a user would load it and must decide, period after period, exactly the
orders the run's policy places in a simulation of the catalogue (:func:`self_check`); the
staging, sealing and placing are those of single-SKU exports (:mod:`~.export`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from stocklab.envs.catalogue.catalogue import Catalogue, sku_seeds
from stocklab.envs.catalogue.policy import CataloguePolicy, CatalogueState
from stocklab.envs.core.errors import DataError, PolicyError
from stocklab.envs.core.storage import read_json, sha256_bytes, write_json
from stocklab.envs.engines.batched import BatchedEngine
from stocklab.envs.engines.params import batch_layout
from stocklab.experiments.deploy.artefact import read_bounded, seal
from stocklab.experiments.deploy.catalogue_record import catalogue_record
from stocklab.experiments.deploy.catalogue_runtime import ARTEFACT, DeployedCatalogue, load_catalogue
from stocklab.experiments.deploy.paths import check_artefact_dir

#: The run file that marks a catalogue run folder.
RUN_FILE = "catalogue_run.json"
#: Periods the staged artefact is checked against the run's policy before it is placed.
CHECK_PERIODS = 24


def is_catalogue_run(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` is the folder of a catalogue run."""
    return (Path(run_dir) / RUN_FILE).is_file()


def run_policy(run_dir: Path, name: str) -> tuple[Catalogue, CataloguePolicy, str]:
    """(tuning catalogue, the policy ``name`` rebuilt from its saved parameters, its kind) of a run."""
    from stocklab.experiments.config import read_yaml
    from stocklab.experiments.run.catalogue.config import parse_catalogue_experiment
    from stocklab.experiments.run.catalogue.policies import tuning_catalogue
    from stocklab.experiments.run.catalogue.reload import policy_from_saved
    from stocklab.experiments.run.catalogue.runner import catalogue_of

    meta = read_json(run_dir / RUN_FILE)
    if not isinstance(meta, dict):
        raise DataError(f"{run_dir / RUN_FILE}: unreadable; run the catalogue config again")
    exp = parse_catalogue_experiment(read_yaml(run_dir / "config.yaml"))
    names = [p.name for p in exp.policies]
    if name not in names:
        raise PolicyError(f"--policy {name!r}: not a policy of this run (its policies: {', '.join(names)})")
    saved = read_json(run_dir / "policies" / f"{name}.json")
    if not isinstance(saved, dict) or "params" not in saved:
        raise DataError(
            f"{run_dir / 'policies' / (name + '.json')}: missing or unreadable; the run did not finish "
            "this policy, run the config again"
        )
    base_dir = meta.get("base_dir")
    catalogue = tuning_catalogue(catalogue_of(exp, base_dir if isinstance(base_dir, str) else None))
    kind = str(saved.get("kind"))
    return catalogue, policy_from_saved(catalogue, name, kind, saved["params"]), kind


def export_catalogue(
    run_dir: str | Path,
    name: str,
    out: str | Path,
    *,
    force: bool = False,
    key: bytes | None = None,
    protect: Iterable[str | Path] = (),
) -> dict[str, Any]:
    """Write catalogue policy ``name`` of run ``run_dir`` to the new or empty folder ``out``; the manifest."""
    run_dir = Path(run_dir)
    target = check_artefact_dir(out, force=force, protect=[run_dir, *protect])
    catalogue, policy, kind = run_policy(run_dir, name)
    run_sha = sha256_bytes(read_bounded(run_dir / RUN_FILE, 64 << 20, "the catalogue run record"))
    return write_catalogue_artefact(catalogue, policy, kind, target, force=force, key=key, run_sha256=run_sha)


def write_catalogue_artefact(
    catalogue: Catalogue, policy: CataloguePolicy, kind: str, target: Path, *, force: bool = False,
    key: bytes | None = None, run_sha256: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Stage, seal, check (:func:`self_check`) and place the artefact of ``policy`` (of ``kind``) for ``catalogue``."""
    from stocklab.experiments.deploy.export import place, staged

    if policy.exportable is None:
        raise PolicyError(f"policy {policy.name!r} ({type(policy).__name__}) cannot be exported")
    with staged(target) as staging:
        write_json(staging / "catalogue.json", catalogue_record(catalogue))
        write_json(staging / "policy.json", {"kind": kind, "params": policy.params()})
        manifest = seal(
            staging,
            {
                "policy": {"name": policy.name, "kind": kind, "class": type(policy).__name__},
                "artefact": ARTEFACT,
                "obs_spec": batch_layout(list(catalogue.configs)).to_json(),
                "catalogue": _summary(catalogue, policy),
                "training_manifest_sha256": run_sha256,
            },
            key,
        )
        deployed = load_catalogue(staging, key=key, require_signature=key is not None)
        self_check(catalogue, policy, deployed)
        place(staging, target, force)
    return manifest


def _summary(catalogue: Catalogue, policy: CataloguePolicy) -> dict[str, Any]:
    shared = catalogue.shared
    return {
        "skus": catalogue.size,
        "shared": None if shared is None else shared.model_dump(mode="json", exclude_none=True),
        "memory": policy.memory() is not None,
        "decide": "one state per SKU (every SKU once); orders after the budget rule",
    }


def self_check(
    catalogue: Catalogue, policy: CataloguePolicy, deployed: DeployedCatalogue, seed: int = 0
) -> None:
    """PolicyError unless ``deployed`` places the orders ``policy`` places, over a simulated episode.

    The catalogue is simulated for :data:`CHECK_PERIODS` periods under ``policy`` on the batched
    engine; every period the deployed artefact decides from the engine's observations (the states
    reversed, to check that order does not matter) with the memory of its previous decision.
    """
    engine = BatchedEngine.for_catalogue(catalogue)
    engine.reset(sku_seeds(seed, list(catalogue.skus)))
    policy.reset()
    memory = None
    back = np.arange(catalogue.size)[::-1]
    skus = [catalogue.skus[i] for i in back]
    for t in range(CHECK_PERIODS):
        obs = engine.observe()
        decision = deployed.decide_observations(skus, np.asarray(obs)[back], memory)
        flows = engine.step(np.asarray(policy.orders(obs, CatalogueState.of(engine, t)), dtype=np.int64))
        placed = np.asarray(flows.order)[back]
        if not np.array_equal(placed, decision.orders):
            k = int(np.flatnonzero(placed != np.asarray(decision.orders))[0])
            raise PolicyError(
                f"policy {deployed.name!r}: the exported artefact orders {decision.orders[k]} for sku "
                f"{skus[k]!r} in period {t} where the run's policy orders {int(placed[k])}; not exported"
            )
        memory = decision.memory


__all__ = ["export_catalogue", "is_catalogue_run", "run_policy", "self_check", "write_catalogue_artefact"]
