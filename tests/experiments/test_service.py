"""`stocklab serve`: started on a free loopback port, exercised, and stopped."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from stocklab.baselines.policies.classic import build_policy
from stocklab.envs import parse_env_config
from stocklab.experiments.deploy.export import export_policy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    env_cfg = parse_env_config({"lead_time": 3, "unmet_demand": "backorder"})
    export_policy(build_policy("base_stock", env_cfg, {"level": 20}), env_cfg, tmp / "p")
    log = tmp / "decisions.jsonl"
    code = "from stocklab.experiments.cli.app import main; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "serve", str(tmp / "p"), "--port", "0", "--log", str(log)],
        stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    line = proc.stderr.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    assert match, line
    yield f"http://127.0.0.1:{match.group(1)}", log
    proc.terminate()
    proc.wait(timeout=10)


def request(url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, headers=headers or {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def post(base: str, payload) -> tuple[int, dict]:
    return request(f"{base}/decide", json.dumps(payload).encode())


def test_health_and_policy(server):
    base, _ = server
    assert request(f"{base}/health") == (200, {"status": "ok", "policy": "base_stock"})
    status, manifest = request(f"{base}/policy")
    assert status == 200 and manifest["format_version"] == 1


def test_decisions_and_log(server):
    base, log = server
    before = len(log.read_text().splitlines()) if log.exists() else 0
    # IP = 7 + 5 + 3 - 0 = 15 -> order 5
    assert post(base, {"state": {"on_hand": 7, "backlog": 0, "pipeline": [5, 3]}}) == (200, {"order": 5})
    status, data = post(
        base, {"states": [{"on_hand": 0, "pipeline": [0, 0]}, {"on_hand": 25, "pipeline": [0, 0]}]}
    )
    assert (status, data) == (200, {"orders": [20, 0]})
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(lines) == before + 3
    assert lines[-1]["state"] == {"on_hand": 25, "pipeline": [0, 0]} and lines[-1]["order"] == 0


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        ({"state": {"pipeline": [1, 2]}}, 422, "missing field 'on_hand'"),
        ({"state": {"on_hand": "seven", "pipeline": [1, 2]}}, 422, "'seven' is not a number"),
        ({"state": {"on_hand": -3, "pipeline": [1, 2]}}, 422, "on_hand: -3 outside"),
        ({"state": {"on_hand": 3, "pipeline": [1, 2, 3]}}, 422, "expected 2 value(s), got 3"),
        ({"states": []}, 400, "non-empty list"),
        ({"nothing": 1}, 400, 'body must be {"state"'),
        ({"states": [{"on_hand": 1, "pipeline": [0, 0]}, 5]}, 422, "states[1]"),
    ],
)
def test_invalid_requests_get_4xx(server, payload, status, fragment):
    base, log = server
    before = log.read_text() if log.exists() else ""
    got, data = post(base, payload)
    assert got == status
    assert fragment in data["error"]
    assert (log.read_text() if log.exists() else "") == before  # nothing logged for refused requests


def test_malformed_and_oversized_bodies(server):
    base, _ = server
    assert request(f"{base}/decide", b"{not json")[0] == 400
    status, data = request(
        f"{base}/decide", b"x", {"Content-Length": str(2 << 20), "Content-Type": "application/json"}
    )
    assert status == 413 and "exceeds" in data["error"]
    assert request(f"{base}/nowhere")[0] == 404
