"""The on-disk format of an exported policy: a directory with ``manifest.json`` and its files.

``manifest.json`` holds the format version, the policy kind and name, the ObsSpec (field names, order,
units), the action mode and its mapping to an order quantity, the env config the policy was trained
for, the training run's manifest hash and the SHA-256 of every other file; ``manifest_sha256`` is
the hash of the manifest's own canonical JSON without that key, so a changed byte anywhere is caught.
No file in an artefact is a pickle.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from stocklab.envs.core.errors import PolicyError

FORMAT = "stocklab-policy"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _canonical(manifest: dict[str, Any]) -> bytes:
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` through a temporary file and a rename (never a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def seal(directory: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Add the checksums of every file in ``directory`` and of the manifest itself, and write it."""
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.name != MANIFEST)
    manifest = {
        **manifest,
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "files": {p.name: sha256_file(p) for p in files},
    }
    manifest["manifest_sha256"] = hashlib.sha256(_canonical(manifest)).hexdigest()
    write_json_atomic(directory / MANIFEST, manifest)
    return manifest


def verify(directory: Path) -> dict[str, Any]:
    """Read and check an artefact's manifest and files; PolicyError says what is wrong."""
    path = directory / MANIFEST
    if not directory.is_dir():
        raise PolicyError(f"{directory}: policy directory not found")
    if not path.is_file():
        raise PolicyError(f"{directory}: no {MANIFEST} (not an exported stocklab policy)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: not valid JSON ({exc}); the file was damaged or edited") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise PolicyError(f"{path}: format is {manifest.get('format')!r}, expected {FORMAT!r}")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise PolicyError(
            f"{path}: format_version {version!r} is not supported (this stocklab reads version {FORMAT_VERSION})"
        )
    expected = manifest.get("manifest_sha256")
    if expected != hashlib.sha256(_canonical(manifest)).hexdigest():
        raise PolicyError(f"{path}: manifest checksum mismatch; the manifest was changed after export")
    for name, digest in manifest.get("files", {}).items():
        f = directory / name
        if not f.is_file():
            raise PolicyError(f"{directory}: file {name} listed in the manifest is missing")
        if sha256_file(f) != digest:
            raise PolicyError(f"{f}: SHA-256 mismatch; the file was changed after export")
    return manifest
