"""Export and act never lose a user's file, never run code from what they read, never take the machine.

* output paths: every refused target is left byte for byte as it was, with exit code 2 and one
  message naming the argument; ``--force`` replaces exactly a previous artefact;
* pickles planted in a run folder and in an artefact (whose unpickling would create a marker file)
  are never loaded;
* an artefact whose parameters were edited and re-checksummed is refused with a PolicyError before
  anything is allocated: the loads run in a child process whose address space is capped far below
  what the edited parameters would allocate, so an allocation would end in MemoryError, not the
  expected message.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import pickle
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from stocklab.baselines.policies.classic import build_policy
from stocklab.envs import PolicyError, parse_env_config
from stocklab.experiments.cli.app import app
from stocklab.experiments.deploy.artefact import seal
from stocklab.experiments.deploy.export import export_policy
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


# ----------------------------------------------------------------------- bounds before allocation
def reseal(folder: Path, edit) -> None:
    """Edit an artefact's files, then recompute every checksum as an attacker would."""
    edit(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    for key in ("files", "manifest_sha256", "format", "format_version", "signature"):
        manifest.pop(key, None)
    (folder / "manifest.json").unlink()
    seal(folder, manifest)


def edit_json(name: str, change):
    def edit(folder: Path) -> None:
        data = json.loads((folder / name).read_text())
        change(data)
        (folder / name).write_text(json.dumps(data))

    return edit


def write_npz(folder: Path, name: str, **arrays: np.ndarray) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    (folder / name).write_bytes(buf.getvalue())


def fake_npy_member(shape: tuple[int, ...]) -> bytes:
    """An .npy header claiming ``shape`` (int64) followed by 8 bytes of data."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<i8", "fortran_order": False, "shape": shape})
    return buf.getvalue() + bytes(8)


def load_capped(folder: Path) -> str:
    """Load ``folder`` in a child process whose address space is capped at 3 GiB; return its output."""
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"
        "from stocklab.envs import PolicyError\n"
        "from stocklab.experiments.deploy.runtime import load_policy\n"
        "try:\n"
        f"    load_policy({str(folder)!r})\n"
        "    print('LOADED')\n"
        "except PolicyError as exc:\n"
        "    print('REFUSED', exc)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


@pytest.fixture
def exported(tmp_path):
    """Artefacts of every format for ENV (no run needed)."""
    from stocklab.agents.tabular.agent import TABULAR_AGENTS
    from stocklab.baselines.exact.tables import solve_optimum

    env = parse_env_config(ENV)
    policies = {
        "bs": build_policy("base_stock", env, {"level": 12}),
        "lp": build_policy("lp", env, {"horizon": 3, "scenarios": 2, "seed": 1}),
        "table": TABULAR_AGENTS["q_learning"](env, {}, seed=1).learn(500),
        "dp": solve_optimum(env).policy,
    }
    for name, policy in policies.items():
        export_policy(policy, env, tmp_path / name)
    return tmp_path


def _set(path: list, value):
    def change(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


CASES = [
    ("bs", edit_json("params.json", _set(["params", "level"], 10**12)), "params.level (=1000000000000) is outside"),
    ("bs", edit_json("params.json", _set(["params", "level"], float("nan"))), "not valid JSON"),
    ("bs", edit_json("params.json", _set(["params", "level"], [1, 2])), "must be a finite number"),
    ("lp", edit_json("params.json", _set(["params", "scenarios"], 10**9)), "params.scenarios (=1000000000)"),
    ("lp", edit_json("params.json", _set(["params"], {"horizon": 365, "scenarios": 1000, "seed": 1})),
     "367,000 scenario periods"),
    ("table", edit_json("discretizer.json", _set(["obs_size"], 10**9)), "differs from the policy's observation size"),
    ("table", edit_json("discretizer.json", _set(["features", 0, "bins"], 10**9)), "bins: 1000000000 must be"),
    ("table", edit_json("discretizer.json", lambda d: [f.update(bins=10**4) for f in d["features"]]),
     "more than 10,000,000 states"),
    ("table", edit_json("discretizer.json", _set(["features", 0, "index"], [10**9])), "reaches outside"),
    ("table", lambda f: write_npz(f, "greedy.npz", actions=np.full(10, 99)), "one per state of the discretiser"),
    ("dp", edit_json("dp_bounds.json", _set(["max_position"], 10**9)), "bounds describe more than"),
    ("dp", edit_json("dp_bounds.json", _set(["tol"], 1e-300)), "tol (=1e-300)"),
    ("dp", lambda f: (f / "dp_table.npz").write_bytes(_fake_npz({"states": (10**10, 2), "orders": (10**10,)})),
     "the table has 10,000,000,000 states"),
    ("bs", edit_json("manifest.json", _set(["env_config", "demand"], {"dist": "replay", "path": "/dev/zero"})),
     "may name only the shipped sales histories"),
    ("bs", edit_json("manifest.json", _set(["env_config", "lead_time"], 10**9)), "observation has"),
    ("bs", edit_json("manifest.json", _set(["env_config", "max_order"], 10**12)), "above 1,000,000,000 units"),
    ("bs", edit_json("manifest.json", _set(["obs_spec", 0, "size"], 10**9)), "obs_spec does not match"),
]  # fmt: skip


def _fake_npz(members: dict[str, tuple[int, ...]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, shape in members.items():
            zf.writestr(f"{name}.npy", fake_npy_member(shape))
    return buf.getvalue()


@pytest.mark.parametrize(("name", "edit", "fragment"), CASES, ids=[f"{c[0]}-{c[2][:30]}" for c in CASES])
def test_edited_and_resealed_artefacts_are_refused_before_allocating(exported, name, edit, fragment):
    folder = exported / name
    assert load_policy(folder)  # loads before the edit
    reseal(folder, edit)
    output = load_capped(folder)
    assert output.startswith("REFUSED") and fragment in output, output


def declare_size(data: bytes, size: int) -> bytes:
    """A zip whose central directory claims ``size`` uncompressed bytes for every member."""
    out = bytearray(data)
    at = out.find(b"PK\x01\x02")
    while at >= 0:
        out[at + 24 : at + 28] = size.to_bytes(4, "little")
        at = out.find(b"PK\x01\x02", at + 4)
    return bytes(out)


def test_an_npz_member_that_inflates_beyond_its_header_is_refused(exported):
    folder = exported / "table"
    bins = [f["bins"] for f in json.loads((folder / "discretizer.json").read_text())["features"]]
    states = int(np.prod(bins))

    def bomb(f: Path) -> None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("actions.npy", fake_npy_member((states,))[:-8] + bytes(states * 8 + (64 << 20)))
        (f / "greedy.npz").write_bytes(buf.getvalue())  # 64 MiB of zeros beyond the header's array

    reseal(folder, bomb)
    output = load_capped(folder)
    assert output.startswith("REFUSED") and "declares" in output, output


def test_file_names_in_the_manifest_stay_inside_the_artefact(exported):
    from stocklab.experiments.deploy.artefact import _manifest_digest

    path = exported / "bs" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["files"] = {"../../etc/passwd": "0" * 64}
    manifest["manifest_sha256"] = _manifest_digest(manifest)
    path.write_text(json.dumps(manifest))
    with pytest.raises(PolicyError, match="plain file names"):
        load_policy(exported / "bs")


def test_the_runtime_checks_a_policy_that_answers_outside_the_action_space(exported):
    folder = exported / "table"
    states = json.loads((folder / "discretizer.json").read_text())
    n = int(np.prod([f["bins"] for f in states["features"]]))
    reseal(folder, lambda f: write_npz(f, "greedy.npz", actions=np.full(n, 10**9, dtype=np.int64)))
    with pytest.raises(PolicyError, match=r"actions outside the env's action space 0\.\.10"):
        load_policy(folder)


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


# ------------------------------------------------------------------------------------- ONNX graphs
def onnx_model(nodes, inits, *, in_shape=("batch", 3), out_type=None, ir_external=None) -> bytes:
    """A small ONNX model (built with the onnx package) from nodes and initializers."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("observation", TensorProto.FLOAT, list(in_shape))
    y = helper.make_tensor_value_info("action", out_type or TensorProto.INT64, ["batch"])
    graph = helper.make_graph(nodes, "policy", [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if ir_external is not None:
        ir_external(model)
    return model.SerializeToString()


def dense(n_in: int = 3, n_out: int = 11):
    from onnx import helper, numpy_helper

    w = numpy_helper.from_array(np.ones((n_out, n_in), dtype=np.float32), "W")
    b = numpy_helper.from_array(np.zeros(n_out, dtype=np.float32), "b")
    nodes = [
        helper.make_node("Gemm", ["observation", "W", "b"], ["logits"], transB=1),
        helper.make_node("ArgMax", ["logits"], ["action"], axis=1, keepdims=0),
    ]
    return nodes, [w, b]


def _external(model) -> None:
    from onnx import TensorProto

    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "/dev/zero"


def _bad_graphs():
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = dense()
    wide = numpy_helper.from_array(np.ones((3, 100_000), dtype=np.float32), "wide")
    shape = numpy_helper.from_array(np.array([10**10], dtype=np.int64), "shape")
    loop_body = helper.make_graph([], "body", [], [])
    return [
        ("input 10^9", onnx_model(nodes, inits, in_shape=("batch", 10**9)), "expected one float32 input of shape (batch, 3)"),
        ("fixed batch", onnx_model(nodes, inits, in_shape=(1, 3)), "expected one float32 input"),
        ("wide", onnx_model([helper.make_node("MatMul", ["observation", "wide"], ["h"]),
                             helper.make_node("ArgMax", ["h"], ["action"], axis=1, keepdims=0)], [wide]),
         "too large (at most 65,536 per row)"),
        ("constant of shape", onnx_model([helper.make_node("ConstantOfShape", ["shape"], ["z"]), *nodes],
                                         [shape, *inits]), "'ConstantOfShape' is not allowed"),
        ("external", onnx_model(nodes, inits, ir_external=_external), "stored outside the model file"),
        ("actions", onnx_model(*dense(3, 5)), "ranges over (5,) actions; the env has 11"),
        ("float out", onnx_model(nodes, inits, out_type=TensorProto.FLOAT), "one int64 output"),
        ("loop", onnx_model([helper.make_node("If", ["observation"], ["z"], then_branch=loop_body,
                                              else_branch=loop_body), *nodes], inits), "sub-graph"),
        ("garbage", b"\xff" * 64, "not a readable ONNX model"),
    ]  # fmt: skip


@pytest.fixture
def onnx_artefact(tmp_path):
    """A PPO-shaped ONNX artefact for ENV whose policy.onnx the tests replace."""
    env = parse_env_config(ENV)
    export_policy(build_policy("base_stock", env, {"level": 12}), env, tmp_path / "p")
    folder = tmp_path / "p"

    def to_onnx(f: Path) -> None:
        (f / "params.json").unlink()
        manifest = json.loads((f / "manifest.json").read_text())
        manifest["artefact"] = "onnx"
        (f / "manifest.json").write_text(json.dumps(manifest))
        (f / "policy.onnx").write_bytes(onnx_model(*dense()))

    reseal(folder, to_onnx)
    return folder


def test_a_well_formed_onnx_graph_loads(onnx_artefact):
    # all weights 1: every action's logit is the sum of the observation; argmax picks action 0
    assert load_policy(onnx_artefact).decide({"on_hand": 2, "pipeline": [3]}) == 0


@pytest.mark.parametrize(("label", "model", "fragment"), _bad_graphs(), ids=[g[0] for g in _bad_graphs()])
def test_onnx_graphs_beyond_a_bounded_network_are_refused(onnx_artefact, label, model, fragment):
    reseal(onnx_artefact, lambda f: (f / "policy.onnx").write_bytes(model))
    output = load_capped(onnx_artefact)
    assert output.startswith("REFUSED") and fragment in output, output


def test_the_graph_reader_agrees_with_the_onnx_package(tmp_path):
    import onnx

    from stocklab.agents.sb3.agent import SB3Agent
    from stocklab.experiments.deploy.onnx_graph import parse

    env = parse_env_config(ENV)
    agent = SB3Agent(env, algo="ppo", hyperparams={"n_steps": 64, "batch_size": 64}, seed=1)
    agent.learn(64)
    export_policy(agent.policy(), env, tmp_path / "p")
    agent.close()
    data = (tmp_path / "p" / "policy.onnx").read_bytes()
    ours, model = parse(data), onnx.load_from_string(data)
    assert ours["initializers"] == {t.name: tuple(t.dims) for t in model.graph.initializer}
    assert [n.op for n in ours["nodes"]] == [n.op_type for n in model.graph.node]
    assert [(i[0], i[1]) for i in ours["inputs"]] == [
        (i.name, i.type.tensor_type.elem_type) for i in model.graph.input
    ]
