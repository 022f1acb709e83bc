"""What produced a run's results: the code identity of each unit and the run manifest.

The manifest holds the config hash, seeds, library versions, git commit, machine and times. A unit's
*code identity* is a digest of the source files of the stocklab packages (or modules) that compute it
plus the versions of the libraries that can change its numbers: it enters the unit's hash, so after a
code change a re-run recomputes what that code computes instead of reusing stale results.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import platform
import subprocess
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from stocklab.envs.core.storage import stable_hash

#: Distributions whose versions the manifest records (those that can change a result).
LIBRARIES = (
    "stocklab", "numpy", "scipy", "pandas", "simpy", "gymnasium", "pydantic", "torch",
    "stable-baselines3", "matplotlib",
)  # fmt: skip


#: Libraries whose version is part of every unit's code identity: a new version can change a number.
RESULT_LIBRARIES = (
    "numpy", "scipy", "pandas", "simpy", "gymnasium", "torch", "stable-baselines3", "scikit-learn",
    "statsmodels",
)  # fmt: skip


@cache
def source_digest(name: str) -> str:
    """SHA-256 (16 hex digits) of the files of stocklab package or module ``name`` (sub-packages too).

    A package's digest covers every file under its folder (code and shipped data, not byte-code), in
    sorted order and with its relative path, so renaming, editing, adding or removing a file changes it.
    """
    module = importlib.import_module(name)
    h = hashlib.sha256()
    roots = [Path(p) for p in getattr(module, "__path__", [])]
    files = (
        [(f, f.relative_to(root)) for root in roots for f in root.rglob("*") if _is_source(f)]
        if roots
        else [(Path(str(module.__file__)), Path(str(module.__file__)).name)]
    )
    for path, rel in sorted(files, key=lambda pair: str(pair[1])):
        h.update(str(rel).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _is_source(path: Path) -> bool:
    return path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo")


@cache
def library_versions() -> dict[str, str | None]:
    """Installed version of each of :data:`RESULT_LIBRARIES` (None when not installed)."""
    out: dict[str, str | None] = {}
    for name in RESULT_LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def code_identity(names: Iterable[str]) -> dict[str, Any]:
    """The code identity of a unit computed by stocklab packages or modules ``names``."""
    return {"sources": {n: source_digest(n) for n in sorted(set(names))}, "libraries": library_versions()}


def code_digest(identity: dict[str, Any]) -> str:
    """A short name of a code identity (what unit records and the manifest refer to)."""
    return stable_hash(identity, digits=12)


def now_iso() -> str:
    """The current UTC time, ISO 8601 with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def versions() -> dict[str, str | None]:
    """Installed version of each library in :data:`LIBRARIES` (None when not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit(start: Path | None = None) -> str | None:
    """The commit of the repository holding ``start`` (default: this package).

    With ``+dirty`` when tracked files changed; None outside a git checkout or without git.
    """
    folder = start or Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder, capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "") if head else None


def machine() -> dict[str, Any]:
    """Host facts that bear on wall times: OS, CPU, cores."""
    return {
        "hostname": platform.node(),
        "system": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpus": os.cpu_count(),
    }


def new_manifest(
    config_hash: str, seeds: dict[str, Any], jobs: int, command: list[str] | None
) -> dict[str, Any]:
    """The manifest of a run attempt that starts now (``finished`` is filled in by :func:`finish`)."""
    return {
        "config_hash": config_hash,
        "seeds": seeds,
        "versions": versions(),
        "git_commit": git_commit(),
        "machine": machine(),
        "command": command,
        "jobs": jobs,
        "started": now_iso(),
        "finished": None,
        "wall_seconds": None,
        "attempts": 1,
    }


def resume_manifest(old: dict[str, Any] | None, fresh: dict[str, Any]) -> dict[str, Any]:
    """Merge a previous attempt's manifest of the same config into a new attempt's.

    The first start time and the attempt count carry over, everything else describes this attempt.
    """
    if not old or old.get("config_hash") != fresh["config_hash"]:
        return fresh
    merged = dict(fresh)
    merged["started"] = old.get("started", fresh["started"])
    merged["attempts"] = int(old.get("attempts", 1)) + 1
    return merged


def finish(manifest: dict[str, Any], wall_seconds: float) -> dict[str, Any]:
    """The manifest with the end time and this attempt's wall time (seconds)."""
    return {**manifest, "finished": now_iso(), "wall_seconds": round(wall_seconds, 3)}
