"""Where export and act may write: checked before any work, so no user file is ever lost.

The rules (``what`` is the argument's name in messages, e.g. ``--out``):

* paths are resolved first (``~``, ``a/b/..``, symbolic links), so a path cannot reach around a rule;
* an artefact folder is created new, or fills an existing empty folder; an existing non-empty folder
  is replaced only with ``force``, and only when it holds exactly a verified stocklab artefact;
* never the filesystem root, the current folder or one of its parents, a run folder, the run folder
  being exported, a folder inside it or one of its parents;
* an output file is new, or overwritten with ``force`` when it is a plain file; never an input of the
  same command, never a file inside the exported policy's folder or directly inside a run folder.

Every refusal is a ConfigError (exit code 2) naming the argument, the path as given and as resolved,
and what is allowed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from pathlib import Path

from stocklab.envs.core.errors import ConfigError
from stocklab.envs.core.storage import check_output_dir
from stocklab.experiments.deploy.artefact import MANIFEST, artefact_contents

#: What ``stocklab run`` writes into a run folder besides its lock file ``.lock``.
RUN_ENTRIES = ("manifest.json", "policies", "episodes", "episodes.csv")


def resolve(path: str | Path) -> Path:
    """``path`` made absolute with ``~``, ``..`` and symbolic links resolved (it need not exist)."""
    return Path(os.path.realpath(Path(path).expanduser()))


def _shown(given: str | Path, resolved: Path) -> str:
    text = str(given)
    return repr(text) if Path(text).expanduser().absolute() == resolved else f"{text!r} (= {resolved})"


def is_run_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a stocklab run: its lock file, or its config beside a run's results."""
    if (folder / ".lock").exists():
        return True
    return (folder / "config.yaml").is_file() and any((folder / e).exists() for e in RUN_ENTRIES)


def _is_artefact_folder(folder: Path) -> bool:
    return (folder / MANIFEST).is_file() and artefact_contents(folder) is not None


def _refuse_special(target: Path, label: str, protect: Iterable[Path]) -> None:
    if target == Path(target.anchor):
        raise ConfigError(f"{label}: is the filesystem root; give a new or empty folder")
    cwd = resolve(Path.cwd())
    if target == cwd or target in cwd.parents:
        raise ConfigError(f"{label}: is the current folder or one of its parents; give a new or empty folder")
    for run in protect:
        if target == run or target in run.parents:
            raise ConfigError(
                f"{label}: is the run folder being exported ({run}) or a parent of it; give a new or "
                "empty folder outside the run"
            )
        if run in target.parents:
            raise ConfigError(
                f"{label}: is inside the run folder being exported ({run}); give a new or empty folder "
                "outside the run"
            )


def _check_writable_parent(target: Path, label: str) -> None:
    check_output_dir(target.parent, label)


def check_artefact_dir(
    out: str | Path, *, force: bool = False, protect: Iterable[str | Path] = (), what: str = "--out"
) -> Path:
    """Check that an artefact may be written to folder ``out``; return it resolved.

    ``protect``: folders that must be neither the target, nor inside it, nor contain it (the run
    folder being exported). Nothing is created or changed here.
    """
    target = resolve(out)
    label = f"{what} {_shown(out, target)}"
    _refuse_special(target, label, [resolve(p) for p in protect])
    if target.exists():
        if not target.is_dir():
            raise ConfigError(f"{label}: is a file; give a new or empty folder for the artefact")
        if is_run_folder(target):
            raise ConfigError(f"{label}: is a stocklab run folder; give a new or empty folder")
        try:
            entries = sorted(p.name for p in target.iterdir())
        except OSError as exc:
            raise ConfigError(f"{label}: cannot list the folder ({exc.strerror})") from None
        if entries and not force:
            raise ConfigError(
                f"{label}: is not empty ({len(entries)} entries: {', '.join(entries[:5])}"
                f"{', ...' if len(entries) > 5 else ''}); give a new or empty folder, or --force to "
                "replace a previous stocklab export"
            )
        if entries and artefact_contents(target) is None:
            raise ConfigError(
                f"{label}: --force replaces only a folder that holds exactly a stocklab artefact "
                f"(a verified {MANIFEST} and the files it lists); this one holds {', '.join(entries[:5])}"
                f"{', ...' if len(entries) > 5 else ''}, so it is left untouched"
            )
    _check_writable_parent(target, label)
    return target


def check_output_file(
    out: str | Path,
    *,
    force: bool = False,
    inputs: Iterable[str | Path] = (),
    protect: Iterable[str | Path] = (),
    what: str = "--out",
) -> Path:
    """Check that a result file may be written to ``out``; return it resolved.

    ``inputs``: files the command reads (never overwritten); ``protect``: folders nothing is written
    into (the exported policy's folder).
    """
    target = resolve(out)
    label = f"{what} {_shown(out, target)}"
    if target.is_dir():
        raise ConfigError(f"{label}: is a folder; give a file name")
    if target in {resolve(p) for p in inputs}:
        raise ConfigError(f"{label}: is an input of this command; give another file name")
    for folder in map(resolve, protect):
        if folder in target.parents:
            raise ConfigError(f"{label}: is inside the policy folder {folder}; write the result elsewhere")
    parent = target.parent
    if parent.is_dir() and (is_run_folder(parent) or _is_artefact_folder(parent)):
        raise ConfigError(
            f"{label}: is inside a stocklab run or policy folder ({parent}); write it elsewhere"
        )
    if target.exists() or target.is_symlink():
        if not target.is_file():
            raise ConfigError(f"{label}: exists and is not a plain file; give another file name")
        if not force:
            raise ConfigError(f"{label}: exists; give a new file name, or --force to overwrite it")
        if not os.access(target, os.W_OK):
            raise ConfigError(f"{label}: the file is not writable")
    _check_writable_parent(target, label)
    return target


def aside_name(target: Path, tag: str) -> Path:
    """A fresh hidden name beside ``target`` (for staging or for moving an old artefact aside)."""
    return target.with_name(f".{target.name}.{tag}-{uuid.uuid4().hex[:12]}")
