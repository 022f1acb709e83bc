"""Fixtures of the decision-service tests: `stocklab serve` on a free loopback port, raw HTTP, ASGI calls.

The helpers are handed to tests as the ``svc`` fixture (a namespace), since test modules here are
not importable by name.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from stocklab.experiments.cli.app import main; main()"]


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `stocklab ARGS` to completion (text output)."""
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd or ROOT, timeout=timeout)


@contextmanager
def serving(policy_dir: Path, tmp: Path, *args: str):
    """Start `stocklab serve POLICY --port 0 ARGS` (stderr to a file); yield (base url, stderr path)."""
    err = tmp / f"serve-{time.monotonic_ns()}.stderr"
    with err.open("w") as f:
        proc = subprocess.Popen([*CLI, "serve", str(policy_dir), "--port", "0", *args],
                                stderr=f, stdout=subprocess.DEVNULL, cwd=tmp)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (match := re.search(r"http://127\.0\.0\.1:(\d+)", err.read_text())):
            assert proc.poll() is None, err.read_text()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        base = f"http://127.0.0.1:{match.group(1)}"
        while time.monotonic() < deadline:  # the socket listens; wait for the app to be up
            try:
                if request(f"{base}/health")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        yield base, err
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def request(url: str, body: bytes | None = None, headers: dict | None = None, method: str | None = None):
    """(status, parsed JSON or text, headers) of one HTTP request."""
    req = urllib.request.Request(
        url, data=body, headers=headers or {"Content-Type": "application/json"}, method=method
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, data, head = resp.status, resp.read(), {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as exc:
        status, data, head = exc.code, exc.read(), {k.lower(): v for k, v in exc.headers.items()}
    try:
        return status, json.loads(data), head
    except ValueError:
        return status, data.decode(), head


def post(base: str, payload: Any) -> tuple[int, Any, dict]:
    return request(f"{base}/decide", json.dumps(payload).encode())


def port_of(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def raw(base: str, data: bytes, wait: float = 10.0) -> tuple[float, bytes]:
    """Send raw bytes on a new connection; (seconds until the server closed it, what it answered)."""
    with socket.create_connection(("127.0.0.1", port_of(base)), timeout=wait) as s:
        start = time.monotonic()
        s.sendall(data)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return time.monotonic() - start, out


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/") else 0


def body_of(response: bytes) -> dict:
    return json.loads(response.split(b"\r\n\r\n", 1)[1])


def http_request(method: str, path: str, body: bytes = b"", content_type: str = "application/json",
                 extra: str = "") -> bytes:  # fmt: skip
    head = f"{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{extra}"
    if body or method == "POST":
        head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body


def asgi_call(app: Any, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    """One request through an ASGI app in this process: (status, headers, body bytes)."""
    hdrs = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if body:
        hdrs.append((b"content-length", str(len(body)).encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "scheme": "http", "headers": hdrs, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2),
             "state": {}}  # fmt: skip
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = sent[0]
    return (
        start["status"],
        dict((k.decode(), v.decode()) for k, v in start["headers"]),
        b"".join(m.get("body", b"") for m in sent[1:]),
    )


@pytest.fixture(scope="session")
def svc() -> SimpleNamespace:
    """The helpers above, for tests: ``svc.serving(...)``, ``svc.post(...)``, ``svc.raw(...)``, ..."""
    return SimpleNamespace(
        ROOT=ROOT, CLI=CLI, run_cli=run_cli, serving=serving, request=request, post=post, port_of=port_of, raw=raw,
        status_of=status_of, body_of=body_of, http_request=http_request, asgi_call=asgi_call,
        CATALOGUE_SETTINGS=CATALOGUE_SETTINGS,
    )  # fmt: skip


#: The shipped six-SKU catalogue, shrunk to run in seconds, with a purchasing budget that binds
#: when stock is low (40 per period), and the coordinator on per-SKU DP orders where the DPs fit.
CATALOGUE_CONFIG = ROOT / "configs" / "catalogue_small.yaml"
CATALOGUE_SETTINGS = [
    "evaluation.episodes=2", "evaluation.periods=150", "evaluation.warmup=10", "evaluation.worst=3",
    "evaluation.tuning.episodes=1", "evaluation.tuning.periods=150", "evaluation.tuning.warmup=10",
    "policies.4.train.steps=1024", "catalogue.shared.budget.limit=40", "policies.2.params.exact=100000",
]  # fmt: skip


@pytest.fixture(scope="session")
def catalogue_run(tmp_path_factory) -> Path:
    """One uninterrupted `stocklab run` of :data:`CATALOGUE_CONFIG` with :data:`CATALOGUE_SETTINGS`: its folder."""
    out = tmp_path_factory.mktemp("catalogue_run") / "runs"
    sets = [a for s in CATALOGUE_SETTINGS for a in ("--set", s)]
    proc = run_cli("run", str(CATALOGUE_CONFIG), "--out", str(out), "--quiet", *sets, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out / "catalogue_small"
