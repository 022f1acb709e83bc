"""`stocklab serve` over real sockets: decisions, refusals, the failure modes of the old stdlib server.

Every request goes to a server started on a free loopback port; orders are checked against the
base-stock rule computed by hand (order = max(0, S - IP), IP = on hand + pipeline - backlog).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest
from typer.testing import CliRunner

from stocklab.baselines.policies.classic import build_policy
from stocklab.envs import parse_env_config
from stocklab.experiments.cli.app import app
from stocklab.experiments.deploy.decision_log import log_files, read_decisions
from stocklab.experiments.deploy.export import export_policy

LEVEL = 20
ENV = {"lead_time": 3, "unmet_demand": "backorder"}
OK_STATE = {"on_hand": 7, "backlog": 0, "pipeline": [5, 3]}  # IP = 15 -> order 5


@pytest.fixture(scope="module")
def artefact(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    cfg = parse_env_config(ENV)
    export_policy(build_policy("base_stock", cfg, {"level": LEVEL}), cfg, tmp / "p")
    return tmp / "p"


@pytest.fixture(scope="module")
def server(artefact, svc):
    tmp = artefact.parent
    log = tmp / "logs" / "decisions.jsonl"
    with svc.serving(artefact, tmp, "--log", str(log), "--header-timeout", "1", "--body-timeout", "1",
                     "--max-states", "50", "--max-body", "100000") as (base, err):  # fmt: skip
        yield base, log, err


def lines(log):
    return [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []


def test_startup_line_names_policy_url_docs_and_log(server):
    base, log, err = server
    first = err.read_text().splitlines()[0]
    assert first.startswith(f"serving base_stock on {base} with 1 worker(s); docs {base}/docs")
    assert str(log) in first


def test_health_policy_docs_and_openapi(server, svc, artefact):
    base, _, _ = server
    manifest = json.loads((artefact / "manifest.json").read_text())
    status, data, _ = svc.request(f"{base}/health")
    assert (status, data) == (200, {"status": "ok", "policy": "base_stock",
                                    "policy_sha256": manifest["manifest_sha256"]})  # fmt: skip
    assert svc.request(f"{base}/policy")[1] == manifest
    status, spec, _ = svc.request(f"{base}/openapi.json")
    assert status == 200 and set(spec["paths"]) == {"/decide", "/health", "/policy", "/metrics"}
    state = spec["components"]["schemas"]["State"]
    assert state["required"] == ["on_hand", "pipeline"] and state["additionalProperties"] is False
    assert state["properties"]["pipeline"]["maxItems"] == 2
    assert set(spec["paths"]["/decide"]["post"]["responses"]) >= {"200", "400", "408", "413", "415", "422"}
    status, page, _ = svc.request(f"{base}/docs")
    assert status == 200 and "swagger" in page.lower()


def test_decisions_by_hand_and_the_log(server, svc):
    base, log, _ = server
    before = len(lines(log))
    status, data, headers = svc.post(base, {"state": {**OK_STATE, "sku": "A-1", "period": 12}})
    assert status == 200 and data["order"] == 5
    assert data["request_id"] == headers["x-request-id"]
    assert re.fullmatch(r"decide;dur=\d+\.\d{3}", headers["server-timing"])
    states = [{"on_hand": 0, "pipeline": [0, 0]}, {"on_hand": 25, "pipeline": [0, 0]},
              {"on_hand": 3, "backlog": 4, "pipeline": [2, 1]}]  # fmt: skip  # IPs 0, 25, 2
    status, data, _ = svc.post(base, {"states": states})
    assert (status, data["orders"]) == (200, [20, 0, 18])
    new = lines(log)[before:]
    assert [r["order"] for r in new] == [5, 20, 0, 18]
    assert [r["index"] for r in new] == [0, 0, 1, 2]
    assert new[0]["sku"] == "A-1" and new[0]["period"] == 12 and new[1]["sku"] is None
    assert new[0]["state"] == {"on_hand": 7, "backlog": 0, "pipeline": [5, 3]}
    assert len({r["request_id"] for r in new[1:]}) == 1 and new[1]["request_id"] == data["request_id"]
    assert new[0]["policy"] == "base_stock" and len(new[0]["policy_sha256"]) == 64


def test_client_request_id_is_kept(server, svc):
    base, log, _ = server
    status, data, headers = svc.request(
        f"{base}/decide", json.dumps({"state": OK_STATE}).encode(),
        {"Content-Type": "application/json", "X-Request-ID": "order-run-42"},
    )  # fmt: skip
    assert status == 200 and data["request_id"] == headers["x-request-id"] == "order-run-42"
    assert lines(log)[-1]["request_id"] == "order-run-42"


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        ({"state": {"pipeline": [1, 2]}}, 422, "state.on_hand: Field required"),
        ({"state": {"on_hand": "seven", "pipeline": [1, 2]}}, 422, "state.on_hand: Input should be a valid number (got 'seven')"),
        ({"state": {"on_hand": True, "pipeline": [1, 2]}}, 422, "state.on_hand: Input should be a valid number (got True)"),
        ({"state": {"on_hand": -3, "pipeline": [1, 2]}}, 422, "state.on_hand: Input should be greater than or equal to 0 (got -3)"),
        ({"state": {"on_hand": 3, "pipeline": [1, 2, 3]}}, 422, "state.pipeline: List should have at most 2 items"),
        ({"state": {"on_hand": 3, "pipeline": [1, 2], "onhand": 3}}, 422, "state.onhand: Extra inputs are not permitted"),
        ({"state": {"on_hand": 3, "pipeline": [1, 2], "period": -1}}, 422, "state.period: Input should be greater than or equal to 0"),
        ({"states": []}, 422, "states: List should have at least 1 item"),
        ({"nothing": 1}, 422, 'body must be {"state": {...}} or {"states": [{...}, ...]} (got keys \'nothing\')'),
        ({"state": OK_STATE, "states": [OK_STATE]}, 422, "Extra inputs are not permitted"),
        ({"states": [OK_STATE, 5]}, 422, "states[1]: Input should be an object (got 5)"),
        ({"states": [OK_STATE] * 51}, 413, "states: at most 50 per request"),
    ],
)  # fmt: skip
def test_invalid_requests_get_4xx_naming_the_field(server, svc, payload, status, fragment):
    base, log, _ = server
    before = log.read_text()
    got, data, _ = svc.post(base, payload)
    assert got == status, data
    assert fragment in data["error"]
    assert log.read_text() == before  # nothing is logged for a refused request


# ------------------------------------------------------------------ the old server's failure modes
@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"[" * 10_000 + b"]" * 10_000, "recursion limit exceeded"),  # deeply nested
        (b'{"states": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "recursion limit exceeded"),
        (b'{"state": {"on_hand": "\xff\xfe", "pipeline": [1, 2]}}', "invalid unicode"),  # invalid UTF-8
        (b'{"state": {"on_hand": ' + b"9" * 5000 + b', "pipeline": [1, 2]}}', "number out of range"),
        (
            b'{"state": {"on_hand": NaN, "pipeline": [1, 2]}}',
            "state.on_hand: Input should be a finite number",
        ),
        (b"{not json", "not valid JSON"),
    ],
)
def test_malformed_json_gets_an_answer(server, svc, body, fragment):
    base, _, _ = server
    _, answer = svc.raw(base, svc.http_request("POST", "/decide", body))
    assert svc.status_of(answer) in (400, 422)
    assert fragment in svc.body_of(answer)["error"]


def test_malformed_http_gets_a_json_400(server, svc):
    base, _, _ = server
    bad_length = (
        b"POST /decide HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 12x\r\n\r\n{}"
    )
    _, answer = svc.raw(base, bad_length)
    assert svc.status_of(answer) == 400 and "Content-Length" in svc.body_of(answer)["error"]
    _, answer = svc.raw(base, b"GARBAGE\r\n\r\n")
    assert svc.status_of(answer) == 400


@pytest.mark.parametrize(
    ("content_type", "status"),
    [("application/x-www-form-urlencoded", 415), ("text/plain", 415), ("", 415),
     ("application/json; charset=utf-8", 200), ("application/vnd.api+json", 200)],
)  # fmt: skip
def test_content_type_must_be_json(server, svc, content_type, status):
    base, _, _ = server
    body = json.dumps({"state": OK_STATE}).encode()
    _, answer = svc.raw(base, svc.http_request("POST", "/decide", body, content_type))
    assert svc.status_of(answer) == status
    if status == 415:
        assert "application/json" in svc.body_of(answer)["error"]


def test_oversized_body_is_refused_without_reading_it(server, svc):
    base, _, _ = server
    head = b"POST /decide HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n"
    seconds, answer = svc.raw(base, head + b"{")
    assert (
        svc.status_of(answer) == 413 and "exceeds the limit of 100000 bytes" in svc.body_of(answer)["error"]
    )
    assert seconds < 1  # answered at once, not after the body timeout


def test_wrong_method_and_unknown_path(server, svc):
    base, _, _ = server
    status, data, headers = svc.request(f"{base}/decide", method="GET")
    assert status == 405 and headers["allow"] == "POST" and "use POST" in data["error"]
    status, data, _ = svc.request(f"{base}/nowhere")
    assert status == 404 and data["error"] == "Not Found"


def _stall(base: str, svc, partial: bytes, out: list) -> None:
    out.append(svc.raw(base, partial, wait=10))


def test_stalled_bodies_are_cut_off_and_others_still_answered(server, svc):
    base, _, _ = server
    body = json.dumps({"state": OK_STATE}).encode()
    partial = svc.http_request("POST", "/decide", body)[:-10]
    results: list = []
    threads = [threading.Thread(target=_stall, args=(base, svc, partial, results)) for _ in range(20)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    start = time.monotonic()
    for _ in range(20):  # other clients are served while 20 connections hold half-sent bodies
        assert svc.post(base, {"state": OK_STATE})[0] == 200
    assert time.monotonic() - start < 5
    for t in threads:
        t.join(timeout=15)
    assert len(results) == 20
    for seconds, answer in results:
        assert svc.status_of(answer) == 408 and "did not arrive within 1 s" in svc.body_of(answer)["error"]
        assert 0.5 < seconds < 4


def test_stalled_head_and_silent_connection_are_cut_off(server, svc):
    base, _, _ = server
    seconds, answer = svc.raw(base, b"POST /decide HTTP/1.1\r\nHost: t\r\nContent-Ty")
    assert svc.status_of(answer) == 408 and "request head" in svc.body_of(answer)["error"]
    assert 0.5 < seconds < 4
    seconds, answer = svc.raw(base, b"")  # connects, sends nothing
    assert svc.status_of(answer) == 408 and seconds < 4


def test_oversized_head_gets_431(server, svc):
    base, _, _ = server
    head = b"GET /health HTTP/1.1\r\nHost: t\r\n" + b"X-Big: " + b"a" * 100_000 + b"\r\n\r\n"
    _, answer = svc.raw(base, head)
    assert svc.status_of(answer) == 431


def test_a_burst_of_connections_is_not_dropped(server, svc):
    """The stdlib server's listen backlog of 5 dropped SYNs under 16 clients (1 s retransmits)."""
    base, _, _ = server
    body = json.dumps({"state": OK_STATE}).encode()
    request = svc.http_request("POST", "/decide", body)
    socks = [socket.socket() for _ in range(64)]
    try:
        for s in socks:  # 64 connections opened before the server reads any request
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", svc.port_of(base)))
        start = time.monotonic()
        answers = []
        for s in socks:
            s.setblocking(True)
            s.settimeout(10)
            s.sendall(request)
        for s in socks:
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            answers.append(svc.status_of(data))
        assert answers == [200] * 64
        assert time.monotonic() - start < 0.9  # no connection waited for a SYN retransmit (1 s)
    finally:
        for s in socks:
            s.close()


def test_keep_alive_serves_many_requests_on_one_connection(server, svc):
    base, _, _ = server
    body = json.dumps({"state": OK_STATE}).encode()
    one = (f"POST /decide HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(body)}\r\n\r\n").encode() + body  # fmt: skip
    with socket.create_connection(("127.0.0.1", svc.port_of(base)), timeout=10) as s:
        s.sendall(one * 5)
        data = b""
        while data.count(b'"order":5') < 5:
            data += s.recv(65536)
    assert data.count(b"HTTP/1.1 200 OK") == 5


def test_metrics_count_what_happened(server, svc):
    base, _, _ = server

    def scrape() -> dict[str, float]:
        status, text, headers = svc.request(f"{base}/metrics")
        assert status == 200 and headers["content-type"].startswith("text/plain")
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    before = scrape()
    body = json.dumps({"state": OK_STATE}).encode()
    stalls = [b"POST /decide HTTP/1.1\r\nHost: t\r\n", svc.http_request("POST", "/decide", body)[:-5]]
    threads = [threading.Thread(target=svc.raw, args=(base, partial)) for partial in stalls]
    for t in threads:
        t.start()
    assert svc.post(base, {"states": [OK_STATE] * 7})[0] == 200
    assert svc.post(base, {"state": OK_STATE})[0] == 200
    assert svc.post(base, {"state": {"on_hand": -1, "pipeline": [0, 0]}})[0] == 422
    for t in threads:
        t.join(timeout=10)
    after = scrape()

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    assert delta("stocklab_decisions_total") == 8
    assert delta('stocklab_http_requests_total{method="POST",path="/decide",status="200"}') == 2
    assert delta('stocklab_http_requests_total{method="POST",path="/decide",status="422"}') == 1
    assert delta('stocklab_http_errors_total{status="422"}') == 1
    assert delta("stocklab_decide_duration_seconds_count") == 2
    assert delta('stocklab_decide_batch_states_bucket{le="10.0"}') == 2
    assert delta('stocklab_decide_batch_states_bucket{le="5.0"}') == 1
    assert delta('stocklab_http_request_duration_seconds_count{path="/decide"}') == 4  # + the 408
    assert delta('stocklab_http_timeouts_total{phase="body"}') == 1
    assert delta('stocklab_http_timeouts_total{phase="header"}') == 1
    assert delta('stocklab_http_errors_total{status="408"}') == 2
    sha = svc.request(f"{base}/health")[1]["policy_sha256"]
    info = [k for k in after if k.startswith("stocklab_policy_info")]
    assert len(info) == 1 and f'sha256="{sha}"' in info[0] and 'policy="base_stock"' in info[0]


def test_access_log_is_json_with_request_ids(server, svc):
    base, _, err = server
    status, data, _ = svc.post(base, {"state": OK_STATE})
    time.sleep(0.1)
    records = [json.loads(x) for x in err.read_text().splitlines()[1:] if x.startswith("{")]
    mine = [r for r in records if r.get("request_id") == data["request_id"]]
    assert len(mine) == 1
    assert mine[0]["status"] == 200 and mine[0]["path"] == "/decide" and mine[0]["decisions"] == 1
    assert mine[0]["logger"] == "stocklab.access" and mine[0]["duration_ms"] > 0
    assert any(r.get("event") == "timeout" for r in records)


# ------------------------------------------------------------------------------------- startup
@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--log", "{tmp}"], "decision log"),  # a directory
        (["--log", "{tmp}/afile/decisions.jsonl"], "afile is a file, not a directory"),
        (["--log", "{artefact}/decisions.jsonl"], "inside the policy artefact"),
        (["--log", "/proc/decisions.jsonl"], "cannot write there"),
        (["--port", "{busy}"], "cannot listen on 127.0.0.1:"),
        (["--host", "192.0.2.1"], "cannot listen on 192.0.2.1"),  # not an address of this machine
        (["--body-timeout", "0"], "body-timeout"),
    ],
)
def test_startup_refuses_with_one_message_and_exit_2(artefact, tmp_path, monkeypatch, args, fragment):
    (tmp_path / "afile").write_text("x")
    monkeypatch.chdir(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        subs = {"tmp": str(tmp_path), "artefact": str(artefact), "busy": str(busy.getsockname()[1])}
        argv = [a.format(**subs) for a in args]
        # everything that can be refused is refused before uvicorn starts: in-process is the same path
        result = CliRunner().invoke(app, ["serve", str(artefact), *argv])
    assert result.exit_code == 2, result.output
    assert fragment in result.output and "Traceback" not in result.output
    assert (tmp_path / "afile").read_text() == "x"
    if "--host" in args:
        assert "warning" in result.output and "reachable from other machines" in result.output


def test_startup_refuses_a_damaged_artefact(artefact, tmp_path, monkeypatch):
    bad = tmp_path / "bad"
    shutil.copytree(artefact, bad)
    (bad / "params.json").write_text('{"kind": "base_stock", "params": {"level": 99}}')
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["serve", str(bad), "--port", "0"])
    assert result.exit_code == 2 and "SHA-256 mismatch" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "decisions.jsonl").exists()  # nothing served, nothing created


def test_startup_requires_a_signature_when_asked(artefact, tmp_path, monkeypatch):
    """serve --require-signature refuses the unsigned artefact, and a wrong key for a signed one."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STOCKLAB_SIGNING_KEY", raising=False)
    result = CliRunner().invoke(app, ["serve", str(artefact), "--port", "0", "--require-signature"])
    assert result.exit_code == 2 and "sign" in result.output and "Traceback" not in result.output
    key = tmp_path / "key"
    key.write_bytes(b"a-sixteen-byte-key-or-longer")
    result = CliRunner().invoke(
        app, ["serve", str(artefact), "--port", "0", "--require-signature", "--key-file", str(key)]
    )
    assert result.exit_code == 2 and "sign" in result.output
    assert not (tmp_path / "decisions.jsonl").exists()


def test_the_served_process_imports_neither_torch_nor_sb3(artefact, svc, tmp_path):
    code = (
        "import sys; from stocklab.experiments.deploy.server import prepare; "
        "from stocklab.experiments.deploy.service import create_app; "
        "from stocklab.experiments.deploy.settings import ServeSettings; "
        f"s = ServeSettings(policy_dir={str(artefact)!r}, log={str(tmp_path / 'd.jsonl')!r}); "
        "create_app(*prepare(s), s); "
        "sys.exit(1 if {'torch', 'stable_baselines3'} & set(sys.modules) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


@pytest.mark.slow
def test_workers_share_one_log_and_one_metrics_view(artefact, svc, tmp_path):
    log = tmp_path / "decisions.jsonl"
    args = (
        "--workers",
        "2",
        "--log",
        str(log),
        "--log-max-mb",
        "0.004",
        "--log-backups",
        "100",
    )  # ~4 KiB files
    with svc.serving(artefact, tmp_path, *args) as (base, err):
        deadline = time.monotonic() + 60
        while err.read_text().count("Application startup complete") < 2:  # both workers are up
            assert time.monotonic() < deadline, err.read_text()
            time.sleep(0.1)
        results = []

        def client(k: int) -> None:
            for i in range(15):
                results.append(svc.post(base, {"states": [{**OK_STATE, "sku": f"c{k}", "period": i}] * 3}))

        def deciders() -> set[int]:
            return {r["pid"] for r in map(json.loads, err.read_text().splitlines()[1:])
                    if r.get("logger") == "stocklab.access" and r.get("path") == "/decide"}  # fmt: skip

        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert [r[0] for r in results] == [200] * 60
        extra = 0
        while len(deciders()) < 2 and extra < 300:  # the kernel picks the worker; make sure both decided
            assert svc.post(base, {"states": [{**OK_STATE, "sku": "extra"}] * 3})[0] == 200
            extra += 1
        assert len(deciders()) == 2
        _, text, _ = svc.request(f"{base}/metrics")  # one worker answers with the sum over both
        assert f"stocklab_decisions_total {3 * (60 + extra):.1f}" in text
    records = [r for _, _, r in read_decisions(log)]
    assert len(records) == 3 * (60 + extra) and len(log_files(log)) > 3
    for k in range(4):  # each client's decisions, once each, whole
        assert sorted(r["period"] for r in records if r["sku"] == f"c{k}") == sorted(list(range(15)) * 3)
