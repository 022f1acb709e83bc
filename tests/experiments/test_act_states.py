"""`stocklab act --states FILE.csv`: the shipped example files round-trip for every artefact kind.

The orders `act` writes are compared with orders computed independently of the runtime and of its
CSV reader: the test reads the example with Python's csv module, builds each observation vector by
hand (on hand, pipeline, inventory position = on hand + pipeline) and asks the in-process policy
(or, for base-stock, the closed form) for the order.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from stocklab.baselines.policies.classic import build_policy
from stocklab.envs.core.policy import ActionMap
from stocklab.experiments.cli.app import app
from stocklab.experiments.config import load_config
from stocklab.experiments.deploy.export import export_policy

ROOT = Path(__file__).resolve().parents[2]
STATES = ROOT / "configs" / "states"
LEVEL = 17  # base-stock level of the test artefact (units)


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def quickstart_env():
    return load_config(ROOT / "configs" / "quickstart.yaml", check=False).env


@pytest.fixture(scope="module")
def artefacts(quickstart_env, tmp_path_factory):
    """One artefact per export format for the README's quickstart env, and the in-process policies."""
    from stocklab.agents.sb3.agent import SB3Agent
    from stocklab.agents.tabular.agent import TABULAR_AGENTS
    from stocklab.baselines.exact.tables import solve_optimum

    env = quickstart_env
    root = tmp_path_factory.mktemp("artefacts")
    ppo = SB3Agent(env, algo="ppo", hyperparams={"n_steps": 64, "batch_size": 64}, seed=4)
    ppo.learn(128)
    policies = {
        "base_stock": build_policy("base_stock", env, {"level": LEVEL}),
        "qlearning": TABULAR_AGENTS["q_learning"](env, {}, seed=1).learn(3000),
        "optimal": solve_optimum(env).policy,
        "ppo": ppo.policy(),
    }
    for name, policy in policies.items():
        export_policy(policy, env, root / name, name=name)
    yield root, policies
    ppo.close()


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def independent_orders(policy, env, rows: list[dict[str, str]]) -> list[int]:
    """Orders of the in-process policy, from observation vectors built by hand."""
    amap = ActionMap.for_config(env)
    orders = []
    for row in rows:
        on_hand, pipe = float(row["on_hand"]), float(row["pipeline[0]"])
        obs = np.array([on_hand, pipe, on_hand + pipe], dtype=np.float32)  # lost sales, L = 2
        orders.append(amap.order(policy.act(obs), on_hand + pipe))
    return orders


@pytest.mark.parametrize("name", ["base_stock", "qlearning", "optimal", "ppo"])
def test_example_states_round_trip(artefacts, quickstart_env, tmp_path, name):
    root, policies = artefacts
    example = STATES / f"quickstart_{name}.csv"
    out = tmp_path / "orders.csv"
    code, stdout, stderr = cli("act", str(root / name), "--states", str(example), "--out", str(out))
    assert code == 0, stderr
    rows_in, rows_out = read_rows(example), read_rows(out)
    assert [{k: v for k, v in r.items() if k != "order"} for r in rows_out] == rows_in  # passed through
    orders = [int(r["order"]) for r in rows_out]
    assert orders == independent_orders(policies[name], quickstart_env, rows_in)
    if name == "base_stock":  # order-up-to mode: target min(S, max_level), at most max_order
        env = quickstart_env
        ips = [int(r["on_hand"]) + int(r["pipeline[0]"]) for r in rows_in]
        assert orders == [min(env.max_order, max(0, min(LEVEL, env.action.max_level) - ip)) for ip in ips]
    code, stdout, _ = cli("act", str(root / name), "--states", str(example), "--json")
    assert code == 0 and json.loads(stdout)["orders"] == orders
    if "sku" in rows_in[0]:
        assert json.loads(stdout)["sku"] == [r["sku"] for r in rows_in]


def test_backorder_example_with_backlog(tmp_path):
    env = load_config(ROOT / "configs" / "backorder_ss.yaml", check=False).env
    export_policy(build_policy("ss", env, {"s": 15, "S": 60}), env, tmp_path / "ss")
    code, stdout, stderr = cli("act", str(tmp_path / "ss"), "--states", str(STATES / "backorder_ss.csv"))
    assert code == 0, stderr
    rows = list(csv.DictReader(stdout.splitlines()))
    # (s, S) = (15, 60): IP = on hand - backlog; order S - IP when IP <= s, capped at max_order 60
    expected = []
    for r in rows:
        ip = int(r["on_hand"]) - int(r["backlog"])
        expected.append(min(60, 60 - ip) if ip <= 15 else 0)
    assert [int(r["order"]) for r in rows] == expected == [0, 60, 0, 56]


def test_template_prints_the_columns(artefacts):
    root, _ = artefacts
    code, stdout, _ = cli("act", str(root / "ppo"), "--template")
    assert code == 0 and stdout.strip() == "sku,on_hand,pipeline[0]"


@pytest.mark.parametrize(
    "content",
    [
        "on_hand,pipeline[0]\n7,5\n",  # indexed column (the README policy's one-entry pipeline)
        "on_hand,pipeline\n7,5\n",  # a one-entry vector as a plain number
        'on_hand,pipeline\n7,"[5]"\n',  # a JSON list
        "on_hand,pipeline[0],inventory_position\n7,5,12\n",  # a consistent inventory position
        "\ufeffsku,on_hand,pipeline[0]\nX,7,5\n",  # a spreadsheet's byte-order mark
    ],
)
def test_every_documented_layout_reads(artefacts, tmp_path, content):
    root, _ = artefacts
    path = tmp_path / "s.csv"
    path.write_text(content, encoding="utf-8")
    code, stdout, stderr = cli("act", str(root / "base_stock"), "--states", str(path), "--json")
    assert code == 0, stderr
    assert json.loads(stdout)["orders"] == [5]  # IP 12, level 17


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("on_hand,pipeline[0],inventory_position\n7,5,13\n", "inventory_position (=13) contradicts"),
        (
            "onhand,pipeline[0]\n7,5\n",
            "column 'onhand' is not a field of this policy. Did you mean 'on_hand'?",
        ),
        ("on_hand\n7\n", "missing column(s) pipeline[0]"),
        ("on_hand,pipeline[0]\n7,\n", "row 2, column pipeline[0]: empty cell"),
        ("on_hand,pipeline[0]\n7,nan\n", "'nan' is not a finite number"),
        ("on_hand,pipeline[0]\n7,x\n", "'x' is not a number"),
        ("on_hand,pipeline[0]\n7,5,1\n", "row 2: 3 cells for 2 columns"),
        ("on_hand,pipeline[0]\n-1,5\n", "row 2: state.on_hand: -1.0 outside"),
        ("on_hand,pipeline[0],pipeline[1]\n7,5,1\n", "column 'pipeline[1]' is not a field"),
        ("on_hand,pipeline[0],order\n7,5,1\n", "column 'order' is not a field"),
        ("", "empty file"),
    ],
)
def test_bad_states_files_name_row_and_column(artefacts, tmp_path, content, fragment):
    root, _ = artefacts
    path = tmp_path / "s.csv"
    path.write_text(content)
    code, _, stderr = cli("act", str(root / "base_stock"), "--states", str(path))
    assert code == 2
    assert fragment in stderr and "Traceback" not in stderr


def test_inventory_position_consistency_in_the_runtime(artefacts):
    from stocklab.envs import PolicyError
    from stocklab.experiments.deploy.runtime import load_policy

    policy = load_policy(artefacts[0] / "base_stock")
    assert policy.decide({"on_hand": 7, "pipeline": [5]}) == 5  # derived: IP 12
    assert policy.decide({"on_hand": 7, "pipeline": [5], "inventory_position": 12}) == 5
    with pytest.raises(PolicyError, match=r"inventory_position \(=2\) contradicts .* = 7 \+ 5 .* - 0 = 12"):
        policy.decide({"on_hand": 7, "pipeline": [5], "inventory_position": 2})
    with pytest.raises(PolicyError, match=r"states\[1\]: inventory_position"):
        policy.decide_batch(
            [{"on_hand": 1, "pipeline": [1]}, {"on_hand": 1, "pipeline": [1], "inventory_position": 9}]
        )
    with pytest.raises(PolicyError, match="unknown field 'onhand'. Did you mean 'on_hand'"):
        policy.decide({"onhand": 7, "pipeline": [5]})


def strict_json(text: str):
    def reject(name):
        raise ValueError(f"{name} is not strict JSON")

    return json.loads(text, parse_constant=reject)


@pytest.mark.parametrize(
    "args",
    [
        ["--state", '{"on_hand": 7, "pipeline": [5]}', "--json"],
        ["--states", str(STATES / "quickstart_ppo.csv"), "--json"],
    ],
)
def test_json_output_is_strict(artefacts, args):
    root, _ = artefacts
    code, stdout, stderr = cli("act", str(root / "ppo"), *args)
    assert code == 0, stderr
    data = strict_json(stdout)
    assert data.get("order", 0) >= 0 and all(q >= 0 for q in data.get("orders", []))


def test_nan_in_a_state_is_refused(artefacts):
    code, _, stderr = cli(
        "act", str(artefacts[0] / "base_stock"), "--state", '{"on_hand": NaN, "pipeline": [1]}'
    )
    assert code == 2 and "NaN is not JSON" in stderr


def test_the_readme_act_commands_work_as_written(artefacts):
    """The README's `stocklab act ppo_policy/ ...` line, run on a quickstart PPO artefact."""
    import shlex

    root, _ = artefacts
    line = next(
        x for x in (ROOT / "README.md").read_text().splitlines() if x.startswith("stocklab act ppo_policy/")
    )
    command, comment = line.split("#", 1)
    args = shlex.split(command)[1:]
    assert args[:2] == ["act", "ppo_policy/"]
    code, stdout, stderr = cli("act", str(root / "ppo"), *args[2:])
    assert code == 0 and stdout.strip().isdigit(), stderr
    alternative = [
        str(ROOT / a) if a.startswith("configs/") else a for a in shlex.split(comment.replace("or ", "", 1))
    ]
    code, stdout, stderr = cli("act", str(root / "ppo"), *alternative)
    assert code == 0 and stdout.splitlines()[0] == "sku,on_hand,pipeline[0],order", stderr
