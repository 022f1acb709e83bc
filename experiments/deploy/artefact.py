"""The on-disk format of an exported policy: a directory with ``manifest.json`` and its files.

``manifest.json`` holds the format version, the policy kind and name, the ObsSpec (field names, order,
units), the action mode and its mapping to an order quantity, the env config the policy was trained
for, the training run's manifest hash and the SHA-256 of every other file; ``manifest_sha256`` is
the hash of the manifest's own canonical JSON without that key (and without the optional
``signature``, see :mod:`stocklab.experiments.deploy.signing`), so a changed byte anywhere is caught.
No file in an artefact is a pickle.

Reading is defensive, because an artefact may come from anyone: every file is a plain file name
listed in the manifest (no paths, no links, no devices), of bounded size, read once into memory and
hashed there, so the bytes that were checked are the bytes that are used.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from stocklab.envs.core.errors import PolicyError
from stocklab.envs.core.storage import (
    canonical_json,
    check_format,
    format_stamp,
    sha256_bytes,
    write_json,
)
from stocklab.experiments.deploy.signing import check_signature, signature

FORMAT = "stocklab-policy"
MANIFEST = "manifest.json"
#: Largest manifest read (bytes): it embeds the env config, e.g. a replayed demand history.
MAX_MANIFEST_BYTES = 16 << 20
#: Largest file of an artefact read (bytes); the loaders bound each kind's files more tightly.
MAX_FILE_BYTES = 256 << 20
#: A file name inside an artefact: no folders, no hidden files, no ``.`` or ``..``.
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _manifest_digest(manifest: dict[str, Any]) -> str:
    """SHA-256 of the manifest's canonical JSON without its own digest and signature."""
    body = {k: v for k, v in manifest.items() if k not in ("manifest_sha256", "signature")}
    return sha256_bytes(canonical_json(body))


def seal(directory: Path, manifest: dict[str, Any], key: bytes | None = None) -> dict[str, Any]:
    """Add the checksums of every file in ``directory`` and of the manifest itself, and write it.

    With a ``key``, the manifest is also signed (HMAC-SHA256, see :mod:`~stocklab.experiments.deploy.signing`).
    """
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.name != MANIFEST)
    manifest = {
        **manifest,
        **format_stamp(FORMAT),
        "files": {p.name: sha256_bytes(p.read_bytes()) for p in files},
    }
    manifest["manifest_sha256"] = _manifest_digest(manifest)
    if key is not None:
        manifest["signature"] = signature(manifest, key)
    write_json(directory / MANIFEST, manifest, sort_keys=True)
    return manifest


def read_bounded(path: Path, limit: int, what: str, follow: bool = False) -> bytes:
    """The bytes of regular file ``path`` (at most ``limit``); PolicyError for devices, pipes, big files.

    A symbolic link is refused too, unless ``follow`` (a user's own input file may be a link; a file
    inside an artefact may not).
    """
    try:
        info = os.stat(path) if follow else os.lstat(path)
    except FileNotFoundError:
        raise PolicyError(f"{path}: {what} is missing") from None
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read {what} ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise PolicyError(f"{path}: {what} is not a plain file (links, folders and devices are refused)")
    if info.st_size > limit:
        raise PolicyError(f"{path}: {what} has {info.st_size:,} bytes, more than the {limit:,} allowed")
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read {what} ({exc.strerror})") from None
    if len(data) > limit:
        raise PolicyError(f"{path}: {what} grew beyond the {limit:,} bytes allowed while being read")
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(data: bytes, where: str | Path) -> Any:
    """Strict JSON (no NaN or Infinity); PolicyError naming ``where`` when it is not."""
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise PolicyError(f"{where}: not valid JSON ({exc}); the file was damaged or edited") from None


def _read_manifest(directory: Path) -> dict[str, Any]:
    if not directory.is_dir():
        raise PolicyError(f"{directory}: policy directory not found")
    path = directory / MANIFEST
    if not path.exists() and not path.is_symlink():
        raise PolicyError(f"{directory}: no {MANIFEST} (not an exported stocklab policy)")
    manifest = parse_json(read_bounded(path, MAX_MANIFEST_BYTES, "the manifest"), path)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise PolicyError(
            f"{path}: format is {found!r}, expected {FORMAT!r} (not an exported stocklab policy)"
        )
    check_format(manifest, FORMAT, path, PolicyError)
    if manifest.get("manifest_sha256") != _manifest_digest(manifest):
        raise PolicyError(f"{path}: manifest checksum mismatch; the manifest was changed after export")
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(n, str)
        and FILE_NAME.match(n)
        and n != MANIFEST
        and isinstance(d, str)
        and _SHA256.match(d)
        for n, d in files.items()
    ):
        raise PolicyError(f"{path}: 'files' must map plain file names to SHA-256 hex digests")
    return manifest


def read_artefact(
    directory: str | Path, key: bytes | None = None, require_signature: bool = False
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Check an artefact and return its manifest and the bytes of every file it lists.

    PolicyError says what is wrong: not an artefact, an unreadable version, a changed byte, a missing,
    linked or oversized file, or (with ``key`` / ``require_signature``) a missing or bad signature.
    """
    directory = Path(directory)
    manifest = _read_manifest(directory)
    check_signature(manifest, key, require_signature, directory / MANIFEST)
    blobs: dict[str, bytes] = {}
    for name, digest in manifest["files"].items():
        path = directory / name
        if not path.exists() and not path.is_symlink():
            raise PolicyError(f"{directory}: file {name} listed in the manifest is missing")
        data = read_bounded(path, MAX_FILE_BYTES, f"file {name}")
        if sha256_bytes(data) != digest:
            raise PolicyError(f"{path}: SHA-256 mismatch; the file was changed after export")
        blobs[name] = data
    return manifest, blobs


def verify(
    directory: str | Path, key: bytes | None = None, require_signature: bool = False
) -> dict[str, Any]:
    """Read and check an artefact's manifest and files; PolicyError says what is wrong."""
    return read_artefact(directory, key, require_signature)[0]


def artefact_contents(directory: Path) -> set[str] | None:
    """The entry names of ``directory`` when it is exactly a verified artefact, else None.

    Exactly: the manifest verifies, every listed file matches its checksum, and the folder holds
    nothing else (no decision log, no sub-folder, no file a user added). Only such a folder may be
    replaced by ``stocklab export --force``.
    """
    try:
        manifest, _ = read_artefact(directory)
        entries = {p.name for p in directory.iterdir()}
    except (PolicyError, OSError):
        return None
    expected = {MANIFEST, *manifest["files"]}
    return entries if entries == expected else None
