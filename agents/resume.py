"""Resumable training: the latest complete state of one training, kept in a folder beside its output.

Every ``every`` env steps a training writes a checkpoint: between episodes for the tabular agents,
between rollouts for Stable-Baselines3. A checkpoint is a folder ``step-<n>`` written in full before
``latest.json`` (replaced atomically) names it, so a kill at any moment leaves the previous one
intact. It belongs to one training, ``key`` (the run unit's hash, which covers the config, the seed
and the code): a checkpoint of another training is never read. Resuming restores everything the next
steps read (table or network and optimiser, counters, exploration, evaluation and early-stopping
state, the best policy so far, the envs mid-episode, every random generator), so a training cut short
and resumed ends with the very policy, to the bit, of one never interrupted. Only a wall-clock budget
(``train.seconds``) starts afresh on resume.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stocklab.envs.core.errors import PolicyError
from stocklab.envs.core.storage import atomic_path

_POINTER = "latest.json"
#: Written first into every checkpoint folder: only folders holding it are ever removed.
_MARK = ".stocklab-checkpoint"


class StaleCheckpoint(PolicyError):
    """A checkpoint that does not fit the training rebuilt from its config (it has been removed)."""


@dataclass(frozen=True)
class ResumePoint:
    """Where one training keeps its checkpoints, whose they are, and how often it writes one."""

    folder: Path
    #: Identity of the training; a checkpoint with another key is ignored (and replaced).
    key: str
    #: Env steps between checkpoints.
    every: int

    def latest(self) -> tuple[Path, dict[str, Any]] | None:
        """The newest complete checkpoint of this training and its info, or None."""
        try:
            pointer = json.loads((self.folder / _POINTER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(pointer, dict) or pointer.get("key") != self.key:
            return None
        path = self.folder / str(pointer.get("folder", ""))
        if path.parent != self.folder or not path.is_dir():
            return None
        return path, pointer

    def commit(self, steps: int, write: Callable[[Path], None], **info: Any) -> Path:
        """Write checkpoint ``step-<steps>`` with ``write(folder)``, then point ``latest.json`` at it."""
        path = self.folder / f"step-{steps}"
        if path.exists():
            if (path / _MARK).is_file():
                _remove_checkpoint(path)  # an unfinished one of an earlier attempt: never pointed at
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()  # killed between creating it and marking it: empty
            else:
                raise PolicyError(f"{path}: exists and is not a stocklab checkpoint; it is left as it is")
        path.mkdir(parents=True)
        (path / _MARK).write_text(self.key)
        write(path)
        with atomic_path(self.folder / _POINTER) as tmp:
            tmp.write_text(json.dumps({"key": self.key, "folder": path.name, "steps": steps, **info}))
        self._prune(keep=path.name)
        return path

    def clear(self) -> None:
        """Remove this training's checkpoints once its result is saved (the folder is stocklab's own)."""
        self._prune(keep=None)
        (self.folder / _POINTER).unlink(missing_ok=True)
        pointer = Path(_POINTER)
        for tmp in self.folder.glob(f".{pointer.stem}.*.tmp{pointer.suffix}"):
            tmp.unlink()  # atomic_path's temporary pointer of a run killed while writing it
        if self.folder.is_dir() and not any(self.folder.iterdir()):
            self.folder.rmdir()

    def _prune(self, keep: str | None) -> None:
        if not self.folder.is_dir():
            return
        for old in self.folder.glob("step-*"):
            if old.name != keep and (old / _MARK).is_file():
                _remove_checkpoint(old)  # a checkpoint this code wrote (marked), superseded


def _remove_checkpoint(path: Path) -> None:
    """Remove a marked checkpoint folder, its mark last: a kill midway leaves it marked, so removable later."""
    for child in path.iterdir():
        if child.name != _MARK:
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    (path / _MARK).unlink()
    path.rmdir()
