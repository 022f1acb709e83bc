"""The run manifest: what produced a run's results (config hash, seeds, versions, commit, machine, times)."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

#: Distributions whose versions the manifest records (those that can change a result).
LIBRARIES = (
    "stocklab", "numpy", "scipy", "pandas", "simpy", "gymnasium", "pydantic", "torch",
    "stable-baselines3", "matplotlib",
)  # fmt: skip


def stable_hash(data: Any) -> str:
    """SHA-256 (hex, first 16 digits) of the canonical JSON of ``data``: equal inputs, equal hash."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


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
