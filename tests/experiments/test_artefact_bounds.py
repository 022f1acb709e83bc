"""Edited and re-checksummed artefacts are refused with a PolicyError before anything is allocated.

Each case edits a pristine artefact, recomputes every SHA-256 as an attacker would, and is loaded in
one child process whose address space is capped at 3 GiB, far below what the edited parameters
would allocate (a 10^9-entry observation alone is 7.45 GiB of weights): an allocation would end in
MemoryError, not in the expected message.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from stocklab.baselines.policies.classic import build_policy
from stocklab.envs import PolicyError, parse_env_config
from stocklab.experiments.deploy.artefact import _manifest_digest, seal
from stocklab.experiments.deploy.export import export_policy
from stocklab.experiments.deploy.runtime import load_policy

ROOT = Path(__file__).resolve().parents[2]
ENV = {"lead_time": 2, "demand": {"dist": "poisson", "mean": 3}, "max_order": 10}


# ------------------------------------------------------------------------------------- editing
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


def _set(path: list, value):
    def change(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def write_npz(folder: Path, name: str, **arrays: np.ndarray) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    (folder / name).write_bytes(buf.getvalue())


def fake_npy_member(shape: tuple[int, ...]) -> bytes:
    """An .npy header claiming ``shape`` (int64) followed by 8 bytes of data."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<i8", "fortran_order": False, "shape": shape})
    return buf.getvalue() + bytes(8)


def fake_npz(members: dict[str, tuple[int, ...]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, shape in members.items():
            zf.writestr(f"{name}.npy", fake_npy_member(shape))
    return buf.getvalue()


def table_states(folder: Path) -> int:
    return int(
        np.prod([f["bins"] for f in json.loads((folder / "discretizer.json").read_text())["features"]])
    )


def inflating_table(folder: Path) -> None:
    """greedy.npz whose member holds the right header, then 64 MiB of zeros beyond its array."""
    n = table_states(folder)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("actions.npy", fake_npy_member((n,))[:-8] + bytes(n * 8 + (64 << 20)))
    (folder / "greedy.npz").write_bytes(buf.getvalue())


# ------------------------------------------------------------------------------------- ONNX graphs
def onnx_model(nodes, inits, *, in_shape=("batch", 3), out_type=None, tweak=None) -> bytes:
    """A small ONNX model (built with the onnx package) from nodes and initializers."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("observation", TensorProto.FLOAT, list(in_shape))
    y = helper.make_tensor_value_info("action", out_type or TensorProto.INT64, ["batch"])
    graph = helper.make_graph(nodes, "policy", [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if tweak is not None:
        tweak(model)
    return model.SerializeToString()


def dense(n_in: int = 3, n_out: int = 11):
    """observation -> Gemm (all weights 1) -> argmax: a valid policy of ``n_out`` actions."""
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


def bad_graphs() -> list[tuple[str, bytes, str]]:
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = dense()
    wide = numpy_helper.from_array(np.ones((3, 100_000), dtype=np.float32), "wide")
    shape = numpy_helper.from_array(np.array([10**10], dtype=np.int64), "shape")
    body = helper.make_graph([], "body", [], [])
    return [
        ("input 10^9", onnx_model(nodes, inits, in_shape=("batch", 10**9)), "expected one float32 input of shape (batch, 3)"),
        ("fixed batch", onnx_model(nodes, inits, in_shape=(1, 3)), "expected one float32 input"),
        ("wide", onnx_model([helper.make_node("MatMul", ["observation", "wide"], ["h"]),
                             helper.make_node("ArgMax", ["h"], ["action"], axis=1, keepdims=0)], [wide]),
         "too large (at most 65,536 per row)"),
        ("constant of shape", onnx_model([helper.make_node("ConstantOfShape", ["shape"], ["z"]), *nodes],
                                         [shape, *inits]), "'ConstantOfShape' is not allowed"),
        ("external", onnx_model(nodes, inits, tweak=_external), "stored outside the model file"),
        ("actions", onnx_model(*dense(3, 5)), "ranges over (5,) actions; the env has 11"),
        ("float out", onnx_model(nodes, inits, out_type=TensorProto.FLOAT), "one int64 output"),
        ("subgraph", onnx_model([helper.make_node("If", ["observation"], ["z"], then_branch=body,
                                                  else_branch=body), *nodes], inits), "sub-graph"),
        ("garbage", b"\xff" * 64, "not a readable ONNX model"),
    ]  # fmt: skip


def to_onnx(model: bytes):
    """Turn a params artefact into an ONNX one holding ``model``."""

    def edit(folder: Path) -> None:
        (folder / "params.json").unlink(missing_ok=True)
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["artefact"] = "onnx"
        (folder / "manifest.json").write_text(json.dumps(manifest))
        (folder / "policy.onnx").write_bytes(model)

    return edit


# ------------------------------------------------------------------------------------- the cases
CASES = [
    ("level 10^12", "bs", edit_json("params.json", _set(["params", "level"], 10**12)), "params.level (=1000000000000) is outside"),
    ("level NaN", "bs", edit_json("params.json", _set(["params", "level"], float("nan"))), "not valid JSON"),
    ("level list", "bs", edit_json("params.json", _set(["params", "level"], [1, 2])), "must be a finite number"),
    ("scenarios 10^9", "lp", edit_json("params.json", _set(["params", "scenarios"], 10**9)), "params.scenarios (=1000000000)"),
    ("LP size", "lp", edit_json("params.json", _set(["params"], {"horizon": 365, "scenarios": 1000, "seed": 1})),
     "367,000 scenario periods"),
    ("obs_size 10^9", "table", edit_json("discretizer.json", _set(["obs_size"], 10**9)), "differs from the policy's observation size"),
    ("bins 10^9", "table", edit_json("discretizer.json", _set(["features", 0, "bins"], 10**9)), "bins: 1000000000 must be"),
    ("states 10^8", "table", edit_json("discretizer.json", lambda d: [f.update(bins=10**4) for f in d["features"]]),
     "more than 10,000,000 states"),
    ("index 10^9", "table", edit_json("discretizer.json", _set(["features", 0, "index"], [10**9])), "reaches outside"),
    ("greedy shape", "table", lambda f: write_npz(f, "greedy.npz", actions=np.full(10, 99)), "one per state of the discretiser"),
    ("greedy inflates", "table", inflating_table, "declares"),
    ("DP positions 10^9", "dp", edit_json("dp_bounds.json", _set(["max_position"], 10**9)), "bounds describe more than"),
    ("DP tol", "dp", edit_json("dp_bounds.json", _set(["tol"], 1e-300)), "tol (=1e-300)"),
    ("DP 10^10 states", "dp", lambda f: (f / "dp_table.npz").write_bytes(fake_npz({"states": (10**10, 2), "orders": (10**10,)})),
     "the table has 10,000,000,000 states"),
    ("demand /dev/zero", "bs", edit_json("manifest.json", _set(["env_config", "demand"], {"dist": "replay", "path": "/dev/zero"})),
     "may name only the shipped sales histories"),
    ("lead time 10^9", "bs", edit_json("manifest.json", _set(["env_config", "lead_time"], 10**9)), "observation has"),
    ("max_order 10^12", "bs", edit_json("manifest.json", _set(["env_config", "max_order"], 10**12)), "max_order"),  # the env schema's bound or the deployment's
    ("obs_spec 10^9", "bs", edit_json("manifest.json", _set(["obs_spec", 0, "size"], 10**9)), "obs_spec does not match"),
    *((f"ONNX {label}", "bs", to_onnx(model), fragment) for label, model, fragment in bad_graphs()),
]  # fmt: skip


PRISTINE = ("bs", "lp", "table", "dp", "onnx")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """Artefacts of every format for ENV, and a well-formed hand-made ONNX one."""
    from stocklab.agents.tabular.agent import TABULAR_AGENTS
    from stocklab.baselines.exact.tables import solve_optimum

    env = parse_env_config(ENV)
    root = tmp_path_factory.mktemp("pristine")
    policies = {
        "bs": build_policy("base_stock", env, {"level": 12}),
        "lp": build_policy("lp", env, {"horizon": 3, "scenarios": 2, "seed": 1}),
        "table": TABULAR_AGENTS["q_learning"](env, {}, seed=1).learn(500),
        "dp": solve_optimum(env).policy,
        "onnx": build_policy("base_stock", env, {"level": 12}),
    }
    for name, policy in policies.items():
        export_policy(policy, env, root / name)
    reseal(root / "onnx", to_onnx(onnx_model(*dense())))
    return root


def load_capped(folders: list[Path]) -> list[str]:
    """Load each folder in one child process capped at 3 GiB of address space; one line per folder."""
    code = (
        "import json, resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"
        "from stocklab.envs import PolicyError\n"
        "from stocklab.experiments.deploy.runtime import load_policy\n"
        "for folder in json.loads(sys.argv[1]):\n"
        "    try:\n"
        "        load_policy(folder)\n"
        "        print(json.dumps('LOADED'))\n"
        "    except PolicyError as exc:\n"
        "        print(json.dumps('REFUSED ' + str(exc)))\n"
    )
    args = [sys.executable, "-c", code, json.dumps([str(f) for f in folders])]
    res = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return [json.loads(line) for line in res.stdout.splitlines()]


@pytest.fixture(scope="module")
def outcomes(pristine, tmp_path_factory) -> dict[str, str]:
    """Every case's edited artefact, loaded under the memory cap: case label -> outcome."""
    root = tmp_path_factory.mktemp("edited")
    folders = []
    for i, (_, source, edit, _) in enumerate(CASES):
        folder = Path(shutil.copytree(pristine / source, root / f"case{i}"))
        reseal(folder, edit)
        folders.append(folder)
    labels = [c[0] for c in CASES] + [f"pristine {n}" for n in PRISTINE]
    return dict(zip(labels, load_capped([*folders, *(pristine / n for n in PRISTINE)]), strict=True))


def test_the_pristine_artefacts_load_under_the_same_cap(pristine, outcomes):
    assert [outcomes[f"pristine {n}"] for n in PRISTINE] == ["LOADED"] * len(PRISTINE)
    # the hand-made ONNX policy: every logit is the sum of the observation, so argmax picks action 0
    assert load_policy(pristine / "onnx").decide({"on_hand": 2, "pipeline": [3]}) == 0


@pytest.mark.parametrize(("label", "fragment"), [(c[0], c[3]) for c in CASES], ids=[c[0] for c in CASES])
def test_edited_and_resealed_artefacts_are_refused_before_allocating(outcomes, label, fragment):
    assert outcomes[label].startswith("REFUSED") and fragment in outcomes[label], outcomes[label]


def test_file_names_in_the_manifest_stay_inside_the_artefact(pristine, tmp_path):
    folder = Path(shutil.copytree(pristine / "bs", tmp_path / "bs"))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"] = {"../../etc/passwd": "0" * 64}
    manifest["manifest_sha256"] = _manifest_digest(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PolicyError, match="plain file names"):
        load_policy(folder)


def test_a_table_answering_outside_the_action_space_is_refused(pristine, tmp_path):
    folder = Path(shutil.copytree(pristine / "table", tmp_path / "table"))
    n = table_states(folder)
    reseal(folder, lambda f: write_npz(f, "greedy.npz", actions=np.full(n, 10**9, dtype=np.int64)))
    with pytest.raises(PolicyError, match=r"actions outside the env's action space 0\.\.10"):
        load_policy(folder)


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
