"""Catalogue policies exported, then deciding through `stocklab act --states` and `POST /decide`.

One catalogue run (the shipped six-SKU catalogue, shrunk, with a purchasing budget of 40 per period
that binds when stock is low) is exported policy by policy. The references are independent of the
deployment code:

* the run's evaluation itself: the shared PPO policy is trained again in this process with the
  run's seed and must reproduce the run's evaluation (orders per SKU in catalogue_episodes.csv);
  its simulated states, on the SKUs it never trained on, are then decided by the exported artefact
  through the CLI and must give the orders the simulation placed;
* the coordinator, whose adaptive room remembers past periods, decided period after period with
  --memory, against the same simulation;
* the budget's pro-rata rule by hand: from empty stock every SKU asks for its base-stock level S_i,
  costing S = sum c_i S_i > B, and gets floor(S_i B / S).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from stocklab.envs.catalogue.policy import CatalogueState
from stocklab.envs.core.seeding import episode_seeds
from stocklab.envs.engines.batched import BatchedEngine
from stocklab.experiments.cli.app import app
from stocklab.experiments.config import apply_override, read_yaml
from stocklab.experiments.run.catalogue.config import parse_catalogue_experiment
from stocklab.experiments.run.catalogue.evaluate import sku_seeds
from stocklab.experiments.run.catalogue.policies import build_policy
from stocklab.experiments.run.catalogue.runner import catalogue_of

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs" / "catalogue_small.yaml"
POLICIES = ("base_stock", "capped", "coordinator", "newsvendor", "shared_ppo")


def experiment(settings: list[str]):
    data = read_yaml(CONFIG)
    for s in settings:
        apply_override(data, s)
    return parse_catalogue_experiment(data)


@pytest.fixture(scope="module")
def exported(catalogue_run: Path, tmp_path_factory) -> Path:
    """Every policy of the session's catalogue run exported: ``exp/<name>``; ``runs/catalogue_small``: the run."""
    tmp = tmp_path_factory.mktemp("catexport")
    (tmp / "runs").mkdir()
    (tmp / "runs" / "catalogue_small").symlink_to(catalogue_run)
    for name in POLICIES:
        res = runner.invoke(
            app, ["export", str(catalogue_run), "--policy", name, "--out", str(tmp / "exp" / name)]
        )
        assert res.exit_code == 0, res.output
        assert "catalogue: catalogue.json, policy.json" in res.output
    return tmp


def simulate(catalogue, policy, seed: int, periods: int):
    """(observations, orders placed) per period of one evaluation episode, as the runner simulates it."""
    engine = BatchedEngine.for_catalogue(catalogue)
    engine.reset(sku_seeds(seed, catalogue))
    policy.reset()
    seen, placed = [], []
    for t in range(periods):
        obs = np.asarray(engine.observe()).copy()
        flows = engine.step(np.asarray(policy.orders(obs, CatalogueState.of(engine, t)), dtype=np.int64))
        seen.append(obs)
        placed.append(np.asarray(flows.order).copy())
    return seen, placed


def states_csv(path: Path, catalogue, obs: np.ndarray, order: np.ndarray) -> None:
    """One row per SKU (in ``order``), columns sku, on_hand, pipeline[0] of the batch layout."""
    lines = ["sku,on_hand,pipeline[0]"]
    lines += [f"{catalogue.skus[i]},{obs[i, 0]:g},{obs[i, 1]:g}" for i in order]
    path.write_text("\n".join(lines) + "\n")


def act(exported: Path, name: str, states: Path, *extra: str) -> dict:
    res = runner.invoke(app, ["act", str(exported / "exp" / name), "--states", str(states), "--json", *extra])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def test_layout_is_sku_on_hand_and_one_pipeline_entry(exported: Path) -> None:
    res = runner.invoke(app, ["act", str(exported / "exp" / "shared_ppo"), "--template"])
    assert res.exit_code == 0 and res.output.strip() == "sku,on_hand,pipeline[0]"  # only C has L = 2
    example = ROOT / "configs" / "states" / "catalogue_small.csv"  # the README's example
    assert example.read_text().splitlines()[0] == res.output.strip()
    for name in POLICIES:
        assert len(act(exported, name, example)["orders"]) == 6


def test_shared_policy_export_decides_as_in_evaluation_on_held_out_states(
    exported: Path, tmp_path: Path, svc
) -> None:
    exp = experiment(svc.CATALOGUE_SETTINGS)
    catalogue = catalogue_of(exp, str(CONFIG.parent))
    spec = exp.policies[POLICIES.index("shared_ppo")]
    policy = build_policy(catalogue, exp, spec)  # trained again, same seed
    ev = exp.evaluation
    seen, placed = simulate(catalogue, policy, episode_seeds(ev.seed, ev.episodes)[0], ev.warmup + ev.periods)
    # it is the run's policy: its evaluation's orders per SKU are the run's
    eps = pd.read_csv(exported / "runs" / "catalogue_small" / "catalogue_episodes.csv")
    run = eps[(eps.policy == "shared_ppo") & (eps.episode == 0)].set_index("sku")["ordered"]
    ours = np.sum(placed[ev.warmup :], axis=0)
    assert [int(run[s]) for s in catalogue.skus] == ours.tolist()
    held = [i for i, s in enumerate(catalogue.skus) if s not in policy.train_skus]
    assert held, "some SKUs are held out of training"
    rng = np.random.default_rng(5)
    checked = 0
    for t in rng.choice(len(seen), 12, replace=False):
        order = rng.permutation(catalogue.size)
        states_csv(tmp_path / "s.csv", catalogue, seen[t], order)
        got = act(exported, "shared_ppo", tmp_path / "s.csv")
        assert got["sku"] == [catalogue.skus[i] for i in order]
        assert got["orders"] == placed[t][order].tolist(), f"period {t}"
        checked += sum(placed[t][i] > 0 for i in held)
    assert checked > 0  # held-out SKUs ordered something in the periods checked


def test_coordinator_with_memory_decides_as_in_evaluation(exported: Path, tmp_path: Path) -> None:
    from stocklab.experiments.deploy.catalogue_export import run_policy

    catalogue, policy, kind = run_policy(exported / "runs" / "catalogue_small", "coordinator")
    assert kind == "lagrangian" and policy.memory() is not None
    seen, placed = simulate(catalogue, policy, 77, 16)
    memory = tmp_path / "memory.json"
    for t in range(16):
        states_csv(tmp_path / "s.csv", catalogue, seen[t], np.arange(catalogue.size)[::-1])
        got = act(exported, "coordinator", tmp_path / "s.csv", "--memory", str(memory))
        assert got["orders"] == placed[t][::-1].tolist(), f"period {t}"
        assert got["spent"] <= 40.0
    assert json.loads(memory.read_text())["period"] == 16


def test_budget_rule_by_hand_from_empty_stock(exported: Path, tmp_path: Path) -> None:
    saved = json.loads((exported / "runs" / "catalogue_small" / "policies" / "base_stock.json").read_text())
    levels = [p["level"] for p in saved["params"]["per_sku"]]
    cost = [2, 1, 1, 1, 1, 1]  # unit_cost of A..F in the config (default 1)
    asked = sum(c * s for c, s in zip(cost, levels))
    assert asked > 40  # the budget binds
    (tmp_path / "s.csv").write_text("sku,on_hand,pipeline[0]\n" + "".join(f"{s},0,0\n" for s in "ABCDEF"))
    got = act(exported, "base_stock", tmp_path / "s.csv")
    assert got["orders"] == [math.floor(s * 40 / asked) for s in levels]
    assert got["asked"] == asked and got["spent"] == sum(c * q for c, q in zip(cost, got["orders"]))


@pytest.mark.parametrize(
    ("rows", "extra", "fragment"),
    [
        ("A,1,0\nB,1,0\n", [], "2 of the catalogue's 6 SKUs; sku 'C'"),
        ("A,1,0\nB,1,0\nC,1,0\nD,1,0\nE,1,0\nF,1,0\nX,1,0\n", [], "sku 'X' is not in this catalogue"),
        ("A,1,0\nA,1,0\nC,1,0\nD,1,0\nE,1,0\nF,1,0\n", [], "sku 'A' repeats"),
        ("A,1,3\nB,1,0\nC,1,0\nD,1,0\nE,1,0\nF,1,0\n", [], "pipeline[0] = 3, but the SKU's lead time"),
        ("A,1,0\nB,-1,0\nC,1,0\nD,1,0\nE,1,0\nF,1,0\n", [], "on_hand"),
    ],
)
def test_bad_states_exit_2_naming_the_sku(exported: Path, tmp_path: Path, rows, extra, fragment) -> None:
    (tmp_path / "s.csv").write_text("sku,on_hand,pipeline[0]\n" + rows)
    res = runner.invoke(
        app, ["act", str(exported / "exp" / "coordinator"), "--states", str(tmp_path / "s.csv"), *extra]
    )
    assert res.exit_code == 2 and fragment in res.output, res.output
    assert "Traceback" not in res.output


def test_memory_of_another_policy_and_single_state_are_refused(exported: Path, tmp_path: Path) -> None:
    (tmp_path / "s.csv").write_text("sku,on_hand,pipeline[0]\n" + "".join(f"{s},1,0\n" for s in "ABCDEF"))
    memory = tmp_path / "m.json"
    act(exported, "coordinator", tmp_path / "s.csv", "--memory", str(memory))
    data = json.loads(memory.read_text())
    data["policy_sha256"] = "0" * 64
    memory.write_text(json.dumps(data))
    res = runner.invoke(app, ["act", str(exported / "exp" / "coordinator"), "--states", str(tmp_path / "s.csv"),
                              "--memory", str(memory)])  # fmt: skip
    assert res.exit_code == 2 and "memory: written by another policy" in res.output
    assert json.loads(memory.read_text()) == data  # left as it was
    res = runner.invoke(app, ["act", str(exported / "exp" / "coordinator"), "--state", '{"on_hand": 1}'])
    assert res.exit_code == 2 and "catalogue policy of 6 SKUs" in res.output
    res = runner.invoke(app, ["act", str(exported / "exp" / "base_stock"), "--states", str(tmp_path / "s.csv"),
                              "--memory", str(tmp_path / "none.json")])  # fmt: skip
    assert res.exit_code == 0 and "keeps no memory" in res.output and not (tmp_path / "none.json").exists()


def test_decide_endpoint_matches_act_and_carries_the_memory(exported: Path, tmp_path: Path, svc) -> None:
    from stocklab.experiments.deploy.decision_log import DecisionLog
    from stocklab.experiments.deploy.runtime import load_deployed
    from stocklab.experiments.deploy.service import create_app
    from stocklab.experiments.deploy.settings import ServeSettings

    where = exported / "exp" / "coordinator"
    log = tmp_path / "d.jsonl"
    app_ = create_app(load_deployed(where), DecisionLog(log),
                      ServeSettings(policy_dir=str(where), log=str(log), access_log=False))  # fmt: skip
    states = [{"sku": s, "on_hand": k, "pipeline": [2 if s == "C" else 0]} for k, s in enumerate("FEDCBA")]
    (tmp_path / "s.csv").write_text(
        "sku,on_hand,pipeline[0]\n"
        + "".join(f"{x['sku']},{x['on_hand']},{x['pipeline'][0]}\n" for x in states)
    )
    memory = tmp_path / "m.json"
    hdr = {"content-type": "application/json"}
    body: dict = {"states": states}
    for _ in range(3):  # three periods from the same states: the memory changes the answers
        status, _, raw = svc.asgi_call(app_, "POST", "/decide", json.dumps(body).encode(), hdr)
        assert status == 200, raw
        answer = json.loads(raw)
        assert (
            answer["orders"]
            == act(exported, "coordinator", tmp_path / "s.csv", "--memory", str(memory))["orders"]
        )
        body["memory"] = answer["memory"]
    assert answer["memory"]["period"] == 3
    assert len(log.read_text().splitlines()) == 18  # one line per SKU and decision
    first = b'{"memory": %s, "states": %s}' % (
        json.dumps(answer["memory"]).encode(),
        json.dumps(states).encode(),
    )
    status, _, raw = svc.asgi_call(app_, "POST", "/decide", first, hdr)  # members in any order
    assert status == 200 and json.loads(raw)["memory"]["period"] == 4
    status, _, raw = svc.asgi_call(app_, "POST", "/decide", json.dumps({"state": states[0]}).encode(), hdr)
    assert status == 422 and b"catalogue policy" in raw
    status, _, raw = svc.asgi_call(app_, "POST", "/decide", json.dumps({"states": states[:2]}).encode(), hdr)
    assert status == 422 and b"2 of the catalogue's 6 SKUs" in raw


def _reseal(folder: Path) -> None:
    """Recompute an artefact's checksums after an edit, as an attacker would."""
    from stocklab.experiments.deploy.artefact import seal

    manifest = json.loads((folder / "manifest.json").read_text())
    for key in ("files", "manifest_sha256", "format", "format_version", "signature"):
        manifest.pop(key, None)
    (folder / "manifest.json").unlink()
    seal(folder, manifest)


def _set(path: list, value):
    def edit(data: dict) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


TAMPERED = [
    ("coordinator", "catalogue.json", _set(["volume", 0], -1.0), "volume: expected 6 finite numbers > 0"),
    ("coordinator", "catalogue.json", _set(["skus", 1], "A"), "skus repeats an id"),
    ("coordinator", "catalogue.json", _set(["configs"], []), "one env config per SKU"),
    ("coordinator", "catalogue.json", _set(["configs", 2, "lead_time"], "x"), "configs of sku 'C'"),
    ("coordinator", "catalogue.json", _set(["shared"], {"capacity": {"limit": -5}}), "shared"),
    ("coordinator", "policy.json", _set(["params", "path_levels"], [[1, 2]]), "lagrangian"),
    ("coordinator", "policy.json", _set(["params", "exact", "skus"], [0]), "cover other SKUs"),
    ("coordinator", "policy.json", _set(["kind"], "per_sku"), "policy.json: expected"),
    ("base_stock", "policy.json", _set(["params", "per_sku"], [{"level": 3}]), "one entry per SKU (6)"),
    ("base_stock", "policy.json", _set(["params", "per_sku", 0], {"level": -3}), "sku 'A'"),
    ("base_stock", "policy.json", _set(["params", "base"], "magic"), "not a single-SKU kind"),
    ("shared_ppo", "policy.json", _set(["params", "network", "layers", 0, "weight"], [[1.0]]), "network"),
    ("shared_ppo", "policy.json", _set(["params", "network", "activation"], "gelu"), "activation"),
]


@pytest.mark.parametrize(("name", "file", "edit", "fragment"), TAMPERED)
def test_edited_and_resealed_catalogue_artefacts_are_refused(exported: Path, tmp_path: Path, name, file, edit,
                                                            fragment) -> None:  # fmt: skip
    import shutil

    folder = tmp_path / name
    shutil.copytree(exported / "exp" / name, folder)
    data = json.loads((folder / file).read_text())
    edit(data)
    (folder / file).write_text(json.dumps(data))
    _reseal(folder)
    (tmp_path / "s.csv").write_text("sku,on_hand,pipeline[0]\n" + "".join(f"{s},1,0\n" for s in "ABCDEF"))
    res = runner.invoke(app, ["act", str(folder), "--states", str(tmp_path / "s.csv")])
    assert res.exit_code == 2 and fragment in res.output, res.output
    assert "Traceback" not in res.output
