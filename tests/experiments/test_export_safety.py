"""Export and act never lose a user's file, never run code from what they read, never take the machine.

* output paths: every refused target is left byte for byte as it was, with exit code 2 and one
  message naming the argument; ``--force`` replaces exactly a previous artefact;
* pickles planted in a run folder and in an artefact (whose unpickling would create a marker file)
  are never loaded;
* the files of a run folder are checked (plain files, bounded sizes, archives that do not inflate
  beyond a bound) before they are read (edited artefacts: test_artefact_bounds.py).
"""

from __future__ import annotations

import hashlib
import io
import os
import pathlib
import pickle
import shutil
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stocklab.experiments.cli.app import app
from stocklab.experiments.deploy.runtime import load_policy

ROOT = Path(__file__).resolve().parents[2]
ENV = {"lead_time": 2, "demand": {"dist": "poisson", "mean": 3}, "max_order": 10}
RUN = {
    "name": "small",
    "env": ENV,
    "policies": [
        {"name": "optimal", "kind": "optimal"},
        {"name": "bs", "kind": "base_stock", "params": {"level": 12}},
        {"name": "ql", "kind": "q_learning", "train": {"steps": 2000}},
        {"name": "ppo", "kind": "ppo", "train": {"steps": 128, "episodes": 1, "periods": 50},
         "hyperparams": {"n_steps": 64, "batch_size": 64}},
    ],
    "evaluation": {"episodes": 2, "periods": 50, "warmup": 5, "seed": 3, "exact": False},
}  # fmt: skip


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def snapshot(path: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under ``path`` (or of the file itself)."""
    if path.is_file():
        return {".": hashlib.sha256(path.read_bytes()).hexdigest()}
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(path.rglob("*"))
    }


@pytest.fixture(scope="module")
def built_run(tmp_path_factory) -> Path:
    from stocklab.experiments.config import parse_config
    from stocklab.experiments.run.runner import RunOptions, run_experiment

    out = tmp_path_factory.mktemp("runs")
    return run_experiment(parse_config(RUN), RunOptions(out=out, progress=False, report=False))


@pytest.fixture
def run_dir(built_run, tmp_path) -> Path:
    """A private copy of the built run (tests may plant files in it)."""
    return Path(shutil.copytree(built_run, tmp_path / "runs" / "small", symlinks=True))


# ------------------------------------------------------------------------------------ output paths
def refused(args: list[str], fragment: str, *protected: Path) -> None:
    before = [snapshot(p) for p in protected]
    code, _, stderr = cli(*args)
    assert code == 2, stderr
    assert fragment in stderr and "Traceback" not in stderr, stderr
    assert [snapshot(p) for p in protected] == before


def test_export_never_replaces_the_run_folder(run_dir):
    for out in (run_dir, run_dir / "sub" / "..", run_dir.parent):
        refused(
            ["export", str(run_dir), "--policy", "bs", "--out", str(out), "--force"], "run folder", run_dir
        )
    refused(
        ["export", str(run_dir), "--policy", "bs", "--out", str(run_dir / "exp")],
        "inside the run folder",
        run_dir,
    )


def test_export_never_replaces_a_sibling_through_dotdot(run_dir, tmp_path):
    sibling = tmp_path / "a"
    (sibling / "b").mkdir(parents=True)
    (sibling / "notes.txt").write_text("mine")
    for force in ([], ["--force"]):
        args = ["export", str(run_dir), "--policy", "bs", "--out", str(sibling / "b" / ".." / ".."), *force]
        refused(args, "--out", tmp_path)  # a/b/../.. is tmp_path itself, which holds the run
        args = ["export", str(run_dir), "--policy", "bs", "--out", str(sibling / "b" / ".."), *force]
        refused(args, "(= " + str(sibling) + ")", sibling)


def test_export_never_replaces_a_symlinked_folder_with_files(run_dir, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "data.csv").write_text("1,2\n")
    (tmp_path / "link").symlink_to(mine)
    refused(
        ["export", str(run_dir), "--policy", "bs", "--out", str(tmp_path / "link"), "--force"],
        "--force replaces only",
        mine,
    )


def test_export_refuses_a_non_empty_folder_and_a_file(run_dir, tmp_path):
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "keep.txt").write_text("x")
    refused(["export", str(run_dir), "--policy", "bs", "--out", str(folder)], "is not empty", folder)
    refused(
        ["export", str(run_dir), "--policy", "bs", "--out", str(folder), "--force"], "left untouched", folder
    )
    file = tmp_path / "file.bin"
    file.write_bytes(b"\x00\x01")
    refused(["export", str(run_dir), "--policy", "bs", "--out", str(file), "--force"], "is a file", file)
    refused(["export", str(run_dir), "--policy", "bs", "--out", str(file / "x")], "is a file", file)


def test_export_refuses_the_current_folder_and_other_runs(run_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused(["export", str(run_dir), "--policy", "bs", "--out", "."], "current folder", tmp_path)
    refused(["export", str(run_dir), "--policy", "bs", "--out", "/"], "filesystem root")
    other = tmp_path / "runs" / "other"
    other.mkdir()
    (other / ".lock").write_text("")
    refused(["export", str(run_dir), "--policy", "bs", "--out", str(other), "--force"], "run folder", other)


def test_force_replaces_exactly_a_previous_artefact(run_dir, tmp_path):
    out = tmp_path / "art"
    assert cli("export", str(run_dir), "--policy", "bs", "--out", str(out))[0] == 0
    refused(["export", str(run_dir), "--policy", "optimal", "--out", str(out)], "is not empty", out)
    code, _, stderr = cli("export", str(run_dir), "--policy", "optimal", "--out", str(out), "--force")
    assert code == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == ["dp_bounds.json", "dp_table.npz", "manifest.json"]
    assert load_policy(out).name == "optimal"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".art")]  # no staging left behind
    (out / "decisions.jsonl").write_text("{}\n")  # a user's log beside the artefact: never deleted
    refused(["export", str(run_dir), "--policy", "bs", "--out", str(out), "--force"], "left untouched", out)


def test_export_into_a_new_nested_or_empty_folder(run_dir, tmp_path):
    assert cli("export", str(run_dir), "--policy", "bs", "--out", str(tmp_path / "x" / "y"))[0] == 0
    (tmp_path / "empty").mkdir()
    assert cli("export", str(run_dir), "--policy", "bs", "--out", str(tmp_path / "empty"))[0] == 0
    assert load_policy(tmp_path / "empty").decide({"on_hand": 2, "pipeline": [3]}) == 7  # level 12, IP 5


def test_act_out_never_overwrites_inputs_or_foreign_files(run_dir, tmp_path):
    art = tmp_path / "art"
    assert cli("export", str(run_dir), "--policy", "bs", "--out", str(art))[0] == 0
    states = tmp_path / "states.csv"
    states.write_text("sku,on_hand,pipeline[0]\nA,2,3\n")
    act = ["act", str(art), "--states", str(states)]
    refused([*act, "--out", str(states), "--force"], "is an input of this command", states)
    refused([*act, "--out", str(art / "orders.csv"), "--force"], "inside the policy folder", art)
    refused([*act, "--out", str(run_dir / "orders.csv")], "inside a stocklab run or policy folder", run_dir)
    refused([*act, "--out", str(tmp_path)], "is a folder", states)
    mine = tmp_path / "mine.csv"
    mine.write_text("precious\n")
    refused([*act, "--out", str(mine)], "exists; give a new file name, or --force", mine)
    assert cli(*act, "--out", str(mine), "--force")[0] == 0
    assert mine.read_text() == "sku,on_hand,pipeline[0],order\nA,2,3,7\n"


# ------------------------------------------------------------------------------------- no pickle
class Marker:
    """Unpickling this creates the file ``path``: proof that a pickle was loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.path),))


def plant(folder: Path, name: str, marker: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(pickle.dumps(Marker(marker)))


def test_pickles_planted_in_a_run_and_an_artefact_are_never_loaded(run_dir, tmp_path):
    import torch

    marker = tmp_path / "MARKER"
    pickle.loads(pickle.dumps(Marker(marker)))
    assert marker.exists()  # the planted pickles do create the marker when loaded
    marker.unlink()
    for folder, name in [
        (run_dir, "policy.pkl"), (run_dir / "optimum", "solution.pkl"),
        (run_dir / "policies" / "optimal" / "policy", "solution.pkl"),
        (run_dir / "policies" / "ppo" / "policy", "vecnormalize.pkl"),
        (run_dir / "policies" / "ql" / "policy", "agent.pkl"), (run_dir / "policies" / "bs", "policy.pkl"),
    ]:  # fmt: skip
        plant(folder, name, marker)
    for policy in ("optimal", "bs", "ql", "ppo"):
        code, _, stderr = cli("export", str(run_dir), "--policy", policy, "--out", str(tmp_path / policy))
        assert code == 0, stderr
        plant(tmp_path / policy, "policy.pkl", marker)
        code, _, stderr = cli("act", str(tmp_path / policy), "--state", '{"on_hand": 2, "pipeline": [3]}')
        assert code == 0, stderr
    # torch's own pickle inside SB3's model.zip: refused by the weights-only loader, never run
    model = run_dir / "policies" / "ppo" / "policy" / "model.zip"
    with zipfile.ZipFile(model) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    buf = io.BytesIO()
    torch.save({"policy": Marker(marker)}, buf)
    entries["policy.pth"] = buf.getvalue()
    with zipfile.ZipFile(model, "w") as zf:
        for n, data in entries.items():
            zf.writestr(n, data)
    refused(
        ["export", str(run_dir), "--policy", "ppo", "--out", str(tmp_path / "evil")],
        "objects other than tensors",
    )
    assert not marker.exists()


def declare_size(data: bytes, size: int) -> bytes:
    """A zip whose central directory claims ``size`` uncompressed bytes for every member."""
    out = bytearray(data)
    at = out.find(b"PK\x01\x02")
    while at >= 0:
        out[at + 24 : at + 28] = size.to_bytes(4, "little")
        at = out.find(b"PK\x01\x02", at + 4)
    return bytes(out)


def test_run_folder_files_are_checked_before_they_are_read(run_dir, tmp_path):
    fifo = run_dir / "policies" / "bs" / "record.json"
    fifo.unlink()
    os.mkfifo(fifo)  # reading it would block forever
    refused(["export", str(run_dir), "--policy", "bs", "--out", str(tmp_path / "x")], "not a plain file")
    model = run_dir / "policies" / "ppo" / "policy" / "model.zip"
    model.write_bytes(declare_size(model.read_bytes(), 4_000_000_000))  # members claim 4 GB each
    refused(
        ["export", str(run_dir), "--policy", "ppo", "--out", str(tmp_path / "y")], "the archive inflates to"
    )
