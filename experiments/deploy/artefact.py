"""The on-disk format of an exported policy: a directory with ``manifest.json`` and its files.

``manifest.json`` holds the format version, the policy kind and name, the ObsSpec (field names, order,
units), the action mode and its mapping to an order quantity, the env config the policy was trained
for, the training run's manifest hash and the SHA-256 of every other file; ``manifest_sha256`` is
the hash of the manifest's own canonical JSON without that key, so a changed byte anywhere is caught.
No file in an artefact is a pickle.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stocklab.envs.core.errors import PolicyError
from stocklab.envs.core.storage import (
    canonical_json,
    check_format,
    format_stamp,
    sha256_bytes,
    sha256_file,
    write_json,
)

FORMAT = "stocklab-policy"
MANIFEST = "manifest.json"


def _manifest_digest(manifest: dict[str, Any]) -> str:
    """SHA-256 of the manifest's canonical JSON without its own digest."""
    return sha256_bytes(canonical_json({k: v for k, v in manifest.items() if k != "manifest_sha256"}))


def seal(directory: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Add the checksums of every file in ``directory`` and of the manifest itself, and write it."""
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.name != MANIFEST)
    manifest = {
        **manifest,
        **format_stamp(FORMAT),
        "files": {p.name: sha256_file(p) for p in files},
    }
    manifest["manifest_sha256"] = _manifest_digest(manifest)
    write_json(directory / MANIFEST, manifest, sort_keys=True)
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
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise PolicyError(f"{path}: format is {found!r}, expected {FORMAT!r}")
    check_format(manifest, FORMAT, path, PolicyError)
    expected = manifest.get("manifest_sha256")
    if expected != _manifest_digest(manifest):
        raise PolicyError(f"{path}: manifest checksum mismatch; the manifest was changed after export")
    for name, digest in manifest.get("files", {}).items():
        f = directory / name
        if not f.is_file():
            raise PolicyError(f"{directory}: file {name} listed in the manifest is missing")
        if sha256_file(f) != digest:
            raise PolicyError(f"{f}: SHA-256 mismatch; the file was changed after export")
    return manifest
