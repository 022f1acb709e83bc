"""Finished jobs of a catalogue run, kept in its folder, so that a run cut short resumes where it stopped.

A catalogue run's jobs (each policy: build and evaluate; the Lagrangian bound) take minutes each on
a large catalogue. Each job, once done, is saved under ``<run>/units/<name>/``: its tables as
Parquet (dtypes kept exactly, so the run's CSVs come out byte for byte as from an uninterrupted run)
and ``record.json`` last, holding the job's other results and its hash. The record is the "done"
mark: a job killed half-way left none, and runs again.

A job's hash covers what its result depends on: the env, catalogue and evaluation sections, the
policy's own entry (a policy job), the folder relative paths start from, and the code of the
packages that compute it. Editing one policy's entry re-runs that policy only; changing the
catalogue, the evaluation or stocklab's code re-runs everything.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd

from stocklab.envs.core.storage import stable_hash, write_bytes, write_json
from stocklab.experiments.store import read_unit

#: Folder of the finished jobs, inside the run folder.
UNITS = "units"
#: Packages whose code a catalogue job runs.
CODE = ("stocklab.envs", "stocklab.baselines", "stocklab.agents", "stocklab.experiments.run.catalogue")
#: A policy job's tables (pandas frames), saved as Parquet.
FRAMES = ("episodes", "periods", "trace")
#: Name of the bound's job: hidden, so that no policy name (which cannot start with a dot) meets it.
BOUND = ".bound"


def job_hashes(data: dict[str, Any], base_dir: str | None) -> dict[str, str]:
    """The hash of every job of the raw config ``data``: the bound's (:data:`BOUND`) and each policy's."""
    from stocklab.experiments.run.manifest import code_digest, code_identity

    common = {
        "env": data.get("env"), "catalogue": data.get("catalogue"), "evaluation": data.get("evaluation"),
        "dir": base_dir, "code": code_digest(code_identity(CODE)),
    }  # fmt: skip
    out = {BOUND: stable_hash({**common, "job": "bound"})}
    for entry in data.get("policies") or []:
        out[str(entry["name"])] = stable_hash({**common, "policy": entry})
    return out


def _folder(root: Path, name: str) -> Path:
    return Path(root) / UNITS / name


def save_job(root: str | Path, name: str, unit_hash: str, result: dict[str, Any]) -> None:
    """Save a finished job's ``result`` (tables as Parquet, the rest as JSON, the record last)."""
    folder = _folder(Path(root), name)
    folder.mkdir(parents=True, exist_ok=True)
    record = {k: v for k, v in result.items() if k not in FRAMES}
    for key in FRAMES:
        if key in result:
            buf = io.BytesIO()
            result[key].to_parquet(buf, index=False)
            write_bytes(folder / f"{key}.parquet", buf.getvalue())
    write_json(folder / "record.json", {"hash": unit_hash, "result": record})


def load_job(root: str | Path, name: str, unit_hash: str) -> dict[str, Any] | None:
    """The saved result of job ``name`` when it finished with this hash; None otherwise (it runs again)."""
    folder = _folder(Path(root), name)
    record = read_unit(folder / "record.json", unit_hash)
    if record is None or not isinstance(record.get("result"), dict):
        return None
    result = dict(record["result"])
    try:
        for key in FRAMES:
            path = folder / f"{key}.parquet"
            if path.is_file():
                result[key] = pd.read_parquet(path)
    except (OSError, ValueError):  # damaged: run the job again rather than trust it
        return None
    return result


__all__ = ["BOUND", "job_hashes", "load_job", "save_job"]
