"""Files every layer writes and reads: atomic writes, content hashes and format versions.

A crash, SIGKILL or Ctrl-C in the middle of a write must leave either the old file or the new one,
never half of one. Every writer here writes to a uniquely named temporary file in the destination
folder and moves it into place with ``os.replace`` (atomic on POSIX). The temporary name is unique per
call, so two processes writing the same folder never clobber each other's temporary files. Files get
the mode ``0o666`` minus the process umask (``0644`` under the usual umask), like any file a program
creates, and not the private ``0600`` of ``tempfile.mkstemp``.

Every on-disk format stocklab defines carries ``{"format": NAME, "format_version": N}``, with N taken
from :data:`FORMATS`; :func:`check_format` refuses other versions with a message that names both.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stocklab.envs.core.errors import ConfigError, DataError

#: The version of every on-disk format stocklab writes. A reader accepts exactly this version.
FORMATS: dict[str, int] = {
    "stocklab-policy": 1,  # an exported, sealed policy artefact (experiments.deploy)
    "stocklab-tabular-agent": 1,  # a saved tabular agent (agents.tabular.persistence)
    "stocklab-sb3-agent": 1,  # a saved Stable-Baselines3 agent (agents.sb3.policy)
    "stocklab-dp-policy": 1,  # the DP optimum as a state table (baselines.exact)
}


def format_stamp(name: str) -> dict[str, Any]:
    """The ``format`` / ``format_version`` keys that open a file of format ``name``."""
    return {"format": name, "format_version": FORMATS[name]}


def check_format(meta: Any, name: str, where: str | Path, error: type[Exception] = DataError) -> None:
    """Raise ``error`` unless ``meta`` is a dict stamped with the current version of format ``name``."""
    version = meta.get("format_version") if isinstance(meta, dict) else None
    found = meta.get("format", name) if isinstance(meta, dict) else None
    if found != name or version != FORMATS[name]:
        raise error(
            f"{where}: format {found!r} version {version!r} is not readable; this stocklab reads "
            f"{name!r} version {FORMATS[name]}"
        )


# --------------------------------------------------------------------------------------- writing
@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary path beside ``path``; on success move it onto ``path`` atomically.

    For libraries that write a file themselves (``np.savez``, SB3's ``save``): write to the yielded
    path. On any exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Keep the suffix: some writers append theirs (".zip", ".npz") to a path that lacks it.
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:12]}.tmp{path.suffix}")
    try:
        yield tmp
        if tmp.exists():
            _fsync(tmp)
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (creating parent folders)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, data: Any, *, sort_keys: bool = False) -> None:
    """Write ``data`` as indented, strict JSON atomically: NaN and infinities become ``null``."""
    write_text(path, to_json(data, sort_keys=sort_keys) + "\n")


def to_json(data: Any, *, sort_keys: bool = False, indent: int | None = 2) -> str:
    """``data`` as strict JSON (NaN and infinities as ``null``; numpy scalars and arrays as numbers)."""
    return json.dumps(_strict(data), indent=indent, sort_keys=sort_keys, default=_default, allow_nan=False)


def read_json(path: str | Path) -> Any:
    """Read a JSON file; None when it is missing or unreadable (an unfinished unit, say)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _strict(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        return _strict(value.tolist())  # numpy scalars and arrays, NaN included
    return value


def _default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


# ---------------------------------------------------------------------------------------- hashing
def canonical_json(data: Any) -> bytes:
    """The canonical JSON bytes of ``data`` (sorted keys, no spaces): equal data, equal bytes."""
    return json.dumps(_strict(data), sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")


def stable_hash(data: Any, digits: int = 16) -> str:
    """SHA-256 (hex, the first ``digits`` digits) of the canonical JSON of ``data``."""
    return hashlib.sha256(canonical_json(data)).hexdigest()[:digits]


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------------- output paths
def check_output_dir(path: str | Path, what: str = "--out") -> Path:
    """Check, before any work, that folder ``path`` can be created or written; return it resolved.

    ConfigError (exit code 2) naming ``what`` and the path when it is a file, when a parent is a file,
    or when the nearest existing folder is not writable. Nothing is created here.
    """
    path = Path(path).expanduser()
    resolved = path.resolve()
    if resolved.exists() and not resolved.is_dir():
        raise ConfigError(f"{what} {str(path)!r}: is a file, not a folder; give a folder")
    existing = resolved
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{what} {str(path)!r}: {existing} is a file, so no folder can be made under it")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {str(path)!r}: no permission to write in {existing}")
    return resolved


def check_output_file(path: str | Path, what: str = "--out") -> Path:
    """Check, before any work, that file ``path`` can be written (its folder made); return it resolved.

    ConfigError naming ``what`` and the path when it is a folder, or when its folder cannot be made or
    written.
    """
    path = Path(path).expanduser()
    resolved = path.resolve()
    if resolved.is_dir():
        raise ConfigError(f"{what} {str(path)!r}: is a folder; give a file name")
    if resolved.exists() and not os.access(resolved, os.W_OK):
        raise ConfigError(f"{what} {str(path)!r}: the file is not writable")
    check_output_dir(resolved.parent, what)
    return resolved
