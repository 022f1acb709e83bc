"""The decision service's ASGI app in-process: the OpenAPI contract, the log-failure path, the fast path.

- Contract: schemathesis generates requests (valid and invalid) from the app's own OpenAPI document;
  every answer must be documented (status, content type, body schema) and none may be a 5xx.
- A decision log that fails mid-write answers 503 and leaves no partial line.
- The columnar conversion of validated states equals ``ObsSpec.vector`` state by state, and the
  vectorised ``orders_from_observations`` equals ``ActionMap.order`` row by row (hypothesis).
"""

from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from stocklab.baselines.policies.classic import build_policy
from stocklab.envs import parse_env_config
from stocklab.envs.core.obs import ObsSpec
from stocklab.envs.core.policy import ActionMap
from stocklab.experiments.deploy.decision_log import DecisionLog
from stocklab.experiments.deploy.export import export_policy
from stocklab.experiments.deploy.runtime import load_policy
from stocklab.experiments.deploy.schema import Models, observation_matrix
from stocklab.experiments.deploy.service import create_app
from stocklab.experiments.deploy.settings import ServeSettings

ENV = {"lead_time": 3, "unmet_demand": "backorder", "observation": {"recent_demand": 2}}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("app")
    cfg = parse_env_config(ENV)
    export_policy(build_policy("base_stock", cfg, {"level": 20}), cfg, tmp / "p")
    settings_ = ServeSettings(policy_dir=str(tmp / "p"), log=str(tmp / "d.jsonl"), max_states=20,
                              max_body=20_000, access_log=False)  # fmt: skip
    policy = load_policy(tmp / "p")
    log = DecisionLog(tmp / "d.jsonl")
    return create_app(policy, log, settings_), log


@pytest.fixture(scope="module")
def contract(served):
    return schemathesis.openapi.from_asgi("/openapi.json", served[0])


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("path", "examples"), [(None, 40), ("/decide", 100)])
def test_every_generated_request_gets_a_documented_answer_and_no_5xx(contract, mode, path, examples):
    """Bounded: a fixed number of derandomised examples (the same every run), 2 s per example at most."""
    strategy = (contract if path is None else contract[path]["POST"]).as_strategy(generation_mode=mode)
    seen: set[int] = set()

    @settings(max_examples=examples, deadline=2000, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=strategy)
    def check(case):
        response = case.call_and_validate()  # status, content type and body schema as documented
        assert response.status_code < 500
        seen.add(response.status_code)

    check()
    if path == "/decide":  # the happy path, or the refusals, were exercised
        assert 200 in seen if mode == GenerationMode.POSITIVE else seen & {400, 413, 415, 422}


def test_decide_is_in_the_contract(contract):
    operations = {(r.ok().method.upper(), r.ok().path) for r in contract.get_all_operations()}
    assert operations == {("POST", "/decide"), ("GET", "/health"), ("GET", "/policy"), ("GET", "/metrics")}


def test_a_failing_log_answers_503_and_leaves_no_partial_line(served, svc, monkeypatch):
    app, log = served
    state = {"on_hand": 7, "pipeline": [5, 3], "recent_demand": [4, 6]}
    body = json.dumps({"states": [state] * 3}).encode()
    assert svc.asgi_call(app, "POST", "/decide", body, {"content-type": "application/json"})[0] == 200
    before = log.path.read_bytes()
    real_write = os.write

    def disk_full(fd: int, data: bytes) -> int:
        if fd == log._fd:  # half of the batch gets written, then the disk is full
            real_write(fd, bytes(data)[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", disk_full)
    status, _, data = svc.asgi_call(app, "POST", "/decide", body, {"content-type": "application/json"})
    monkeypatch.undo()
    assert status == 503
    assert "cannot be written (No space left on device); no decision was made" in json.loads(data)["error"]
    assert log.path.read_bytes() == before  # cut back to the last whole line
    assert svc.asgi_call(app, "POST", "/decide", body, {"content-type": "application/json"})[0] == 200
    # (the contract tests share this log; their SKU names may hold U+2028 & co., which str.splitlines
    # would split on: a line ends at b"\n" only)
    records = [json.loads(x) for x in log.path.read_bytes().split(b"\n") if x]
    assert len(records) == len(before.split(b"\n")) - 1 + 3
    assert all(r["order"] == 5 for r in records[-3:])  # IP 15 -> 5
    _, _, text = svc.asgi_call(app, "GET", "/metrics")
    assert b"stocklab_decision_log_errors_total 1.0" in text


# ------------------------------------------------------------------ fast path == reference path
SPECS = [
    {"lead_time": 3, "unmet_demand": "backorder"},
    {"lead_time": 2, "unmet_demand": "lost"},
    {"lead_time": 1, "unmet_demand": "lost", "observation": {"recent_demand": 3}},
    {"lead_time": 4, "unmet_demand": "backorder", "capacity": 50},
]


@st.composite
def valid_states(draw, spec: ObsSpec):
    """States within every field's bounds, some with inventory_position / backlog left out."""
    states = []
    for _ in range(draw(st.integers(1, 40))):
        state = {}
        for f in spec.fields:
            top = min(60, f.high)
            value = st.floats(0, top, allow_nan=False) | st.integers(0, int(top))
            if f.name in ("inventory_position", "backlog") and draw(st.booleans()):
                continue
            if f.name == "inventory_position":
                state[f.name] = draw(st.floats(max(f.low, -60), 200, allow_nan=False))
            elif f.name in ("on_hand", "backlog"):
                state[f.name] = draw(value)
            else:
                state[f.name] = draw(st.lists(value, min_size=f.size, max_size=f.size))
        states.append(state)
    return states


@pytest.mark.parametrize("env", SPECS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_columnar_observations_equal_obsspec_vector(env, data):
    spec = ObsSpec.for_config(parse_env_config(env))
    states = data.draw(valid_states(spec))
    validated = Models(spec, 100).batch.validate_json(json.dumps({"states": states}))["states"]
    expected = np.vstack([spec.vector(s) for s in states])
    np.testing.assert_array_equal(observation_matrix(spec, validated), expected)


@settings(max_examples=60, deadline=None)
@given(
    ips=st.lists(
        st.floats(-30, 80, allow_nan=False).map(lambda x: round(x * 2) / 2), min_size=1, max_size=30
    ),
    mode=st.sampled_from(["quantity", "order_up_to"]),
    level=st.integers(0, 60),
)
def test_vectorised_orders_equal_actionmap_row_by_row(tmp_path_factory, ips, mode, level):
    env = {"lead_time": 2, "unmet_demand": "backorder", "max_order": 25,
           "action": {"mode": mode, "max_level": 60}}  # fmt: skip
    cfg = parse_env_config(env)
    root = tmp_path_factory.mktemp("orders")
    export_policy(build_policy("base_stock", cfg, {"level": level}), cfg, root / "p")
    deployed = load_policy(root / "p")
    spec, amap = ObsSpec.for_config(cfg), ActionMap.for_config(cfg)
    obs = np.zeros((len(ips), spec.size), dtype=np.float32)
    ip = spec.index("inventory_position").start
    obs[:, ip] = ips  # half-integers: round() ties go to even
    policy = build_policy("base_stock", cfg, {"level": level})
    expected = [amap.order(policy.act(o), float(o[ip])) for o in obs]
    assert deployed.orders_from_observations(obs).tolist() == expected
