"""Exported artefacts: round trip, integrity checks, torch-free runtime and `stocklab act`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stocklab.baselines.policies.classic import build_policy
from stocklab.envs import InventoryEnv, PolicyError, parse_env_config
from stocklab.experiments.deploy.export import export_policy
from stocklab.experiments.deploy.runtime import load_policy

ROOT = Path(__file__).resolve().parents[2]
ENV = {"lead_time": 3, "demand": {"dist": "poisson", "mean": 5}, "unmet_demand": "backorder"}


def evaluation_states(env_cfg, policy, n: int = 1000, seed: int = 3) -> tuple[list[dict], list[int]]:
    """States met while the policy runs, and the orders the in-process policy placed in them."""
    env = InventoryEnv(env_cfg)
    obs, _ = env.reset(seed=seed)
    states, orders = [], []
    for _ in range(n):
        states.append(env.state_dict())
        action = policy.act(obs)
        orders.append(env.order_quantity(action))
        obs, *_ = env.step(action)
    return states, orders


CLASSIC = [
    ("base_stock", {"level": 22}),
    ("ss", {"s": 15, "S": 25}),
    ("rq", {"r": 16, "Q": 10}),
    ("constant", {"quantity": 5}),
    ("capped_base_stock", {"level": 22, "cap": 6}),
    ("newsvendor", {"fractile": 0.8}),
    ("lp", {"horizon": 3, "scenarios": 4, "seed": 5}),
]


@pytest.mark.parametrize(("kind", "params"), CLASSIC)
@pytest.mark.parametrize("mode", ["quantity", "order_up_to"])
def test_classic_round_trip_1000_states(tmp_path, kind, params, mode):
    env_cfg = parse_env_config({**ENV, "action": {"mode": mode, "max_level": 60}})
    policy = build_policy(kind, env_cfg, params)
    export_policy(policy, env_cfg, tmp_path / "p", name=f"my_{kind}")
    deployed = load_policy(tmp_path / "p")
    states, orders = evaluation_states(env_cfg, policy)
    assert deployed.decide_batch(states) == orders
    assert [deployed.decide(s) for s in states[:50]] == orders[:50]
    assert deployed.name == f"my_{kind}"


@pytest.fixture
def artefact(tmp_path) -> Path:
    env_cfg = parse_env_config(ENV)
    export_policy(build_policy("base_stock", env_cfg, {"level": 20}), env_cfg, tmp_path / "p")
    return tmp_path / "p"


def test_manifest_lists_spec_action_and_checksums(artefact):
    manifest = json.loads((artefact / "manifest.json").read_text())
    assert [f["name"] for f in manifest["obs_spec"]] == [
        "on_hand",
        "backlog",
        "pipeline",
        "inventory_position",
    ]
    assert manifest["action"]["mode"] == "quantity"
    assert set(manifest["files"]) == {"params.json"}
    assert manifest["format_version"] == 1


def flip_one_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_tampered_file_is_refused(artefact):
    params = artefact / "params.json"
    text = params.read_text()
    flip_one_byte(params, text.index("20"))  # level 20 -> 30
    with pytest.raises(PolicyError, match="params.json: SHA-256 mismatch"):
        load_policy(artefact)


def test_tampered_manifest_is_refused(artefact):
    path = artefact / "manifest.json"
    flip_one_byte(path, path.read_text().index('"quantity"') + 1)
    with pytest.raises(PolicyError, match="manifest"):
        load_policy(artefact)


def test_unknown_format_version_is_refused(artefact):
    path = artefact / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["format_version"] = 99
    path.write_text(json.dumps(manifest))
    with pytest.raises(PolicyError, match="version 99 is not readable"):
        load_policy(artefact)


@pytest.mark.parametrize(
    ("state", "fragment"),
    [
        ({"backlog": 0, "pipeline": [1, 2]}, "missing field 'on_hand'"),
        ({"on_hand": 3, "pipeline": [1]}, "pipeline: expected 2 value(s), got 1"),
        ({"on_hand": -1, "pipeline": [1, 2]}, "on_hand: -1 outside"),
        ({"on_hand": "x", "pipeline": [1, 2]}, "on_hand: 'x' is not a number"),
    ],
)
def test_bad_states_are_named(artefact, state, fragment):
    with pytest.raises(PolicyError) as info:
        load_policy(artefact).decide(state)
    assert fragment in str(info.value)


def test_runtime_imports_neither_torch_nor_sb3(artefact):
    code = (
        "import sys; from stocklab.experiments.deploy.runtime import load_policy; "
        f"p = load_policy({str(artefact)!r}); p.decide({{'on_hand': 3, 'pipeline': [1, 2]}}); "
        "bad = [m for m in ('torch', 'stable_baselines3') if m in sys.modules]; "
        "sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def cli(*args: str) -> subprocess.CompletedProcess:
    code = "from stocklab.experiments.cli.app import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_act_one_state_and_many(artefact, tmp_path):
    # base-stock 20 with on hand 7, pipeline 5 + 3, no backlog: IP 15 -> order 5
    res = cli("act", str(artefact), "--state", '{"on_hand": 7, "pipeline": [5, 3]}', "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["order"] == 5
    csv = tmp_path / "skus.csv"
    csv.write_text('sku,on_hand,backlog,pipeline\nA,7,0,"[5, 3]"\nB,0,4,"[1, 1]"\nC,30,0,"[0, 0]"\n')
    res = cli("act", str(artefact), "--states", str(csv), "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["orders"] == [5, 22, 0]  # B: IP = 0 + 2 - 4 = -2 -> 22; C: IP 30 -> 0


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--state", '{"on_hand": 7}'], "missing field 'pipeline'"),
        (["--state", "{oops"], "--state: not valid JSON"),
        ([], "exactly one of --state"),
    ],
)
def test_act_errors_exit_2(artefact, args, fragment):
    res = cli("act", str(artefact), *args)
    assert res.returncode == 2
    assert fragment in res.stderr and "Traceback" not in res.stderr


def test_act_on_a_missing_directory(tmp_path):
    res = cli("act", str(tmp_path / "nope"), "--state", "{}")
    assert res.returncode == 2
    assert "policy directory not found" in res.stderr


def test_order_up_to_export_maps_action_to_order(tmp_path):
    env_cfg = parse_env_config({**ENV, "action": {"mode": "order_up_to", "max_level": 60}, "max_order": 8})
    export_policy(build_policy("base_stock", env_cfg, {"level": 30}), env_cfg, tmp_path / "p")
    deployed = load_policy(tmp_path / "p")
    # IP = 2 + 1 + 1 - 0 = 4: wants 26 units, capped at max_order 8
    assert deployed.decide({"on_hand": 2, "backlog": 0, "pipeline": [1, 1]}) == 8
    assert np.isclose(deployed.decide({"on_hand": 40, "backlog": 0, "pipeline": [0, 0]}), 0)


AGENT_ENV = {"lead_time": 2, "demand": {"dist": "poisson", "mean": 3}, "max_order": 10}


@pytest.mark.parametrize("algo", ["q_learning", "sarsa"])
def test_tabular_round_trip_1000_states(tmp_path, algo):
    from stocklab.agents.tabular.agent import TABULAR_AGENTS

    env_cfg = parse_env_config(AGENT_ENV)
    agent = TABULAR_AGENTS[algo](env_cfg, {}, seed=1).learn(20_000)
    export_policy(agent, env_cfg, tmp_path / "p")
    deployed = load_policy(tmp_path / "p")
    assert sorted(json.loads((tmp_path / "p" / "manifest.json").read_text())["files"]) == [
        "discretizer.json",
        "greedy.npz",
    ]
    states, orders = evaluation_states(env_cfg, agent)
    assert deployed.decide_batch(states) == orders


@pytest.mark.parametrize(("algo", "mode"), [("ppo", "quantity"), ("ppo", "order_up_to"), ("dqn", "quantity")])
def test_sb3_onnx_round_trip_1000_states(tmp_path, algo, mode):
    from stocklab.agents.sb3.agent import SB3Agent

    env_cfg = parse_env_config({**AGENT_ENV, "action": {"mode": mode, "max_level": 25}})
    hp = {"n_steps": 128, "batch_size": 64} if algo == "ppo" else {"learning_starts": 64, "buffer_size": 1000}
    agent = SB3Agent(env_cfg, algo=algo, hyperparams=hp, seed=2)
    agent.learn(256)
    policy = agent.policy()
    export_policy(policy, env_cfg, tmp_path / "p")
    assert (tmp_path / "p" / "policy.onnx").is_file()
    deployed = load_policy(tmp_path / "p")
    states, orders = evaluation_states(env_cfg, policy)
    assert deployed.decide_batch(states) == orders
    agent.close()
    # the ONNX runtime path decides without torch or SB3
    code = (
        "import sys; from stocklab.experiments.deploy.runtime import load_policy; "
        f"p = load_policy({str(tmp_path / 'p')!r}); print(p.decide_batch({states[:5]!r})); "
        "sys.exit(1 if {'torch', 'stable_baselines3'} & set(sys.modules) else 0)"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == orders[:5]


@pytest.mark.parametrize(
    "env",
    [
        {"lead_time": 2, "demand": {"dist": "poisson", "mean": 5}},
        {
            "lead_time": 1,
            "unmet_demand": "backorder",
            "costs": {"holding": 1, "shortage": 9, "fixed_order": 8},
        },
    ],
)
def test_optimal_dp_round_trip_1000_states(tmp_path, env):
    from stocklab.baselines.exact.solver import DPInstance, solve_optimal

    env_cfg = parse_env_config(env)
    policy = solve_optimal(DPInstance.from_config(env_cfg)).policy
    export_policy(policy, env_cfg, tmp_path / "p")
    states, orders = evaluation_states(env_cfg, policy)
    assert load_policy(tmp_path / "p").decide_batch(states) == orders


def test_export_from_a_run_and_act(tmp_path):
    from stocklab.experiments.run.runner import load_run_policy

    cfg = tmp_path / "small.yaml"
    cfg.write_text(
        "name: small\n"
        "env: {lead_time: 1, demand: {dist: poisson, mean: 3}, max_order: 12}\n"
        "policies:\n"
        "  - {name: optimal, kind: optimal}\n"
        "  - {name: bs, kind: base_stock}\n"
        "  - {name: ql, kind: q_learning, train: {steps: 5000}}\n"
        "evaluation: {episodes: 2, periods: 100, warmup: 10, seed: 3}\n"
    )
    res = cli("run", str(cfg), "--out", str(tmp_path / "runs"))
    assert res.returncode == 0, res.stderr
    run_dir = tmp_path / "runs" / "small"
    for name in ("optimal", "bs", "ql"):
        out = tmp_path / f"exp_{name}"
        res = cli("export", str(run_dir), "--policy", name, "--out", str(out), "--json")
        assert res.returncode == 0, res.stderr
        manifest = json.loads(res.stdout)
        assert manifest["training_manifest_sha256"] and manifest["policy"]["name"] == name
        policy, env_cfg, _ = load_run_policy(run_dir, name)
        states, orders = evaluation_states(env_cfg, policy, n=300)
        assert load_policy(out).decide_batch(states) == orders
    res = cli("export", str(run_dir), "--policy", "qlearn", "--out", str(tmp_path / "x"))
    assert res.returncode == 2 and "'qlearn': not in this run. Policies: optimal, bs, ql" in res.stderr
