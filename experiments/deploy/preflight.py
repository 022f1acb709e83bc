"""Checks on a run folder before ``stocklab export`` reads it: a run folder may come from anyone.

Nothing on the export path unpickles (policies are reloaded by their kind from JSON, ``.npz`` read
with ``allow_pickle=False`` and SB3 tensors read with ``torch.load(weights_only=True)``; the
``vecnormalize.pkl`` SB3 writes for its own tools is never opened). What remains is size: before
anything is parsed, every file the export reads must be a plain file (no device or pipe, which
would never end) of bounded size, and every zip archive among them (``.npz``, SB3's ``model.zip``
and the ``.pth`` archives inside it) must declare a bounded uncompressed size, so that a small
file that inflates to gigabytes is refused before it is opened.
"""

from __future__ import annotations

import io
import os
import re
import stat
import zipfile
from pathlib import Path

from stocklab.envs.core.errors import DataError, PolicyError
from stocklab.envs.core.kinds import NAME_PATTERN

#: Largest text file (config, records, metadata) read from a run folder (bytes).
MAX_TEXT_BYTES = 64 << 20
#: Largest file of any other kind, and largest total a zip archive may inflate to (bytes).
MAX_BINARY_BYTES = 1 << 30
#: Nested archives (a ``.pth`` inside ``model.zip``) are inspected this deep.
MAX_DEPTH = 2
TEXT_SUFFIXES = (".json", ".yaml", ".yml", ".csv", ".txt", ".md", ".jsonl")


def _check_archive(data: io.BytesIO | str | Path, where: str, depth: int) -> None:
    try:
        with zipfile.ZipFile(data) as zf:
            infos = zf.infolist()
            total = sum(i.file_size for i in infos)
            if total > MAX_BINARY_BYTES:
                raise DataError(
                    f"{where}: the archive inflates to {total:,} bytes; at most {MAX_BINARY_BYTES:,}"
                )
            if depth >= MAX_DEPTH:
                return
            for info in infos:
                if info.filename.endswith((".pth", ".zip", ".npz", ".pt")):
                    with zf.open(info) as fh:
                        inner = io.BytesIO(fh.read(MAX_BINARY_BYTES + 1))
                    if zipfile.is_zipfile(inner):
                        _check_archive(inner, f"{where}:{info.filename}", depth + 1)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(f"{where}: damaged archive ({exc})") from None


def check_file(path: Path) -> None:
    """Refuse a file that is not a plain file of bounded size, or an archive that inflates too much."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        return
    if not stat.S_ISREG(info.st_mode):
        raise DataError(f"{path}: not a plain file (a device, pipe or socket is never read)")
    limit = MAX_TEXT_BYTES if path.suffix.lower() in TEXT_SUFFIXES else MAX_BINARY_BYTES
    if info.st_size > limit:
        raise DataError(f"{path}: {info.st_size:,} bytes; at most {limit:,} are read from a run folder")
    if zipfile.is_zipfile(path):
        _check_archive(path, str(path), 1)


def check_run(run_dir: str | Path, policy: str) -> None:
    """Check the files ``stocklab export`` reads from run folder ``run_dir`` for policy ``policy``.

    The config, the run manifest and everything under ``policies/<policy>/``. DataError (exit code 2)
    names the file; PolicyError when ``policy`` is not a policy name.
    """
    root = Path(run_dir)
    if not re.match(NAME_PATTERN, policy):
        raise PolicyError(f"--policy {policy!r}: not a policy name (letters, digits, '_', '.', '-')")
    if not root.is_dir():
        raise DataError(f"{root}: run folder not found; give the folder of a `stocklab run` (runs/<name>)")
    for name in ("config.yaml", "manifest.json"):
        if (root / name).exists() or (root / name).is_symlink():
            check_file(root / name)
    folder = root / "policies" / policy
    if not folder.is_dir():
        return  # the loader reports a policy that was not built
    for dirpath, dirnames, filenames in os.walk(folder):  # does not follow links to folders
        for name in filenames:
            check_file(Path(dirpath) / name)
        dirnames[:] = [d for d in dirnames if not Path(dirpath, d).is_symlink()]
