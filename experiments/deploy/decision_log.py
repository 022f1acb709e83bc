"""The decision log: one JSON line per decision, safe for several writer processes, rotated by size.

Each ``write`` appends the complete lines of one request with a single ``O_APPEND`` write while
holding an exclusive ``flock`` on a sidecar lock file (``decisions.jsonl.lock``), so lines of
concurrent requests and of several ``--workers`` processes never interleave. When the file would
grow past ``max_bytes`` the writer holding the lock rotates it (``decisions.jsonl`` ->
``decisions.jsonl.1`` -> ... -> ``decisions.jsonl.N``; the oldest backup beyond ``backups`` is
dropped) and the other processes notice the new file by its inode before their next write. A write
that fails half-way (disk full) is cut back to the last whole line, so the file never holds a partial
line. ``read_decisions`` reads the backups and the current file in time order.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stocklab.envs.core.errors import ConfigError, DataError

#: Default size at which the log is rotated (bytes).
MAX_BYTES = 64 << 20
#: Default number of rotated files kept beside the current one.
BACKUPS = 10


class DecisionLog:
    """Append-only JSONL decision log at ``path`` (see the module docstring for the guarantees)."""

    def __init__(self, path: str | Path, max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> None:
        if max_bytes < 1024:
            raise ConfigError(f"decision log max_bytes (={max_bytes}) must be at least 1024")
        if backups < 1:
            raise ConfigError(f"decision log backups (={backups}) must be at least 1")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self._thread_lock = threading.Lock()  # flock does not exclude threads sharing one descriptor
        blocking = next((p for p in self.path.parents if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            raise ConfigError(
                f"decision log {self.path}: cannot write there ({blocking} is a file, not a directory); "
                "pass --log with a writable file path"
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            self._fd = self._open()
        except OSError as exc:
            raise ConfigError(
                f"decision log {self.path}: cannot write there ({exc.strerror or exc}); "
                "pass --log with a writable file path"
            ) from None

    @property
    def lock_path(self) -> Path:
        """The sidecar file whose ``flock`` serialises writers (never rotated)."""
        return self.path.with_name(self.path.name + ".lock")

    def backup(self, i: int) -> Path:
        """Path of the ``i``-th rotated file (1 = the most recent)."""
        return self.path.with_name(f"{self.path.name}.{i}")

    def _open(self) -> int:
        if self.path.is_dir():
            raise IsADirectoryError(21, "it is a directory")
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def _reopen_if_rotated(self) -> None:
        """Follow a rotation done by another process (the path now names another file)."""
        try:
            current = os.stat(self.path).st_ino
        except FileNotFoundError:
            current = -1
        if current != os.fstat(self._fd).st_ino:
            os.close(self._fd)
            self._fd = self._open()

    def _rotate(self) -> None:
        for i in range(self.backups - 1, 0, -1):
            if self.backup(i).exists():
                os.replace(self.backup(i), self.backup(i + 1))
        os.replace(self.path, self.backup(1))
        os.close(self._fd)
        self._fd = self._open()

    def write_lines(self, data: bytes) -> None:
        """Append ``data`` (whole lines, each ending in a newline) as one unit.

        Other writers and readers never see part of it; OSError if the disk refuses, in which case
        nothing of ``data`` is left behind.
        """
        with self._thread_lock:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                self._reopen_if_rotated()
                size = os.fstat(self._fd).st_size
                if size and size + len(data) > self.max_bytes:
                    self._rotate()
                    size = 0
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(self._fd, view) :]
                except OSError:
                    os.ftruncate(self._fd, size)
                    raise
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def write(self, records: list[dict[str, Any]]) -> None:
        """Append one JSON line per record."""
        self.write_lines("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records).encode())

    def close(self) -> None:
        """Close the file descriptors (idempotent)."""
        for name in ("_fd", "_lock_fd"):
            fd = getattr(self, name, None)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)


def log_files(path: str | Path) -> list[Path]:
    """The files of a decision log, oldest first: ``LOG.N``, ..., ``LOG.1``, ``LOG`` (those that exist)."""
    path = Path(path)
    backups = []
    for p in path.parent.glob(path.name + ".*"):
        suffix = p.name[len(path.name) + 1 :]
        if suffix.isdigit():
            backups.append((int(suffix), p))
    files = [p for _, p in sorted(backups, reverse=True)]
    return files + ([path] if path.is_file() else [])


def read_decisions(path: str | Path) -> Iterator[tuple[Path, int, dict[str, Any]]]:
    """Yield ``(file, line number, record)`` for every line of the log and its rotated backups."""
    for file in log_files(path):
        with file.open(encoding="utf-8") as f:
            for no, line in enumerate(f, start=1):
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{file}:{no}: not a JSON decision line ({exc.msg})") from None
                if not isinstance(record, dict):
                    raise DataError(f"{file}:{no}: expected a JSON object, got {type(record).__name__}")
                yield file, no, record
