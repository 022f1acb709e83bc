"""``stocklab bench service``: load figures of the HTTP decision service (``stocklab serve``) on loopback.

For a base-stock artefact and an exported PPO network (ONNX) it starts ``stocklab serve`` in its own
process on a free loopback port and measures, with the asyncio load generator of
:mod:`stocklab.experiments.bench.loadgen` running in this process (so client and server share the
machine's cores):

- ``single``: single-state decisions per second and latency percentiles (ms) with ``clients``
  concurrent keep-alive clients, median over ``repeats`` timed runs of ``seconds`` each;
- ``batch_1000``: the time a 1,000-state batch takes inside the service (the ``Server-Timing``
  header: from the whole body received to the answer ready, network excluded) and its round trip;
- ``burst``: ``burst`` clients connecting at the same instant (a small listen backlog drops some);
- ``stalled`` (base-stock only): latency of ordinary clients while ``stalled`` clients hold half-sent
  requests, and how many of the stalled ones the server cut off (and with which status).

Every phase is bounded in time; the server is stopped at the end, whatever happens.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from stocklab.envs import parse_env_config
from stocklab.envs.core.errors import StocklabError
from stocklab.experiments.bench import loadgen
from stocklab.experiments.bench.latency import BENCH_ENV, _states

HOST = "127.0.0.1"
#: Command that starts the service (the installed CLI, run by this interpreter).
SERVE = [sys.executable, "-c", "from stocklab.experiments.cli.app import main; main()", "serve"]
_URL = re.compile(r"http://127\.0\.0\.1:(\d+)")


class BenchError(StocklabError):
    """The service under test did not start or misbehaved in a way that stops the benchmark."""


@contextmanager
def running_service(
    policy_dir: Path, workdir: Path, extra: list[str] | None = None
) -> Iterator[tuple[int, int]]:
    """Start ``stocklab serve`` on a free loopback port; yield (port, pid); stop the server on exit.

    The server's stderr (startup line, access log) goes to a file: a pipe nobody drains would fill
    up and stall the server.
    """
    errfile = workdir / f"serve-{policy_dir.name}.stderr"
    log = workdir / f"decisions-{policy_dir.name}.jsonl"
    cmd = [*SERVE, str(policy_dir), "--port", "0", "--log", str(log), *(extra or [])]
    with errfile.open("w") as err:
        proc = subprocess.Popen(cmd, stderr=err, stdout=subprocess.DEVNULL, cwd=workdir)
    try:
        deadline = time.monotonic() + 60
        port = None
        while port is None:
            match = _URL.search(errfile.read_text())
            if match:
                port = int(match.group(1))
            elif proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"stocklab serve did not start: {errfile.read_text()[-2000:]}")
            else:
                time.sleep(0.05)
        _wait_ready(port)
        yield port, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(port: int, seconds: float = 30.0) -> None:
    request = loadgen.encode_request("GET", "/health", f"{HOST}:{port}")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = asyncio.run(loadgen.timed_requests(HOST, port, request, 1))
        if result.statuses.get(200):
            return
        time.sleep(0.1)
    raise BenchError(f"the service on port {port} never answered GET /health")


def _ms(values: list[float]) -> dict[str, float | None]:
    """p50/p90/p99/max of latencies given in seconds, in milliseconds."""
    if not values:
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
    a = np.asarray(values) * 1e3
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {"p50_ms": float(p50), "p90_ms": float(p90), "p99_ms": float(p99), "max_ms": float(a.max())}


def _load_summary(result: loadgen.LoadResult, seconds: float) -> dict[str, Any]:
    ok = result.statuses.get(200, 0)
    return {
        "decisions_per_s": ok / seconds,
        "requests": sum(result.statuses.values()),
        "statuses": {str(k): v for k, v in sorted(result.statuses.items())},
        "errors": dict(result.errors),
        "connections_opened": result.connections,
        **_ms(result.latencies),
    }


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time (s) a process has used so far (Linux ``/proc``; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _single(port: int, pid: int, body: bytes, clients: int, seconds: float, repeats: int) -> dict[str, Any]:
    request = loadgen.encode_request("POST", "/decide", f"{HOST}:{port}", body)
    asyncio.run(loadgen.closed_loop(HOST, port, request, clients, min(1.0, seconds)))  # warm-up
    runs = []
    for _ in range(repeats):
        before = cpu_seconds(pid)
        run = _load_summary(asyncio.run(loadgen.closed_loop(HOST, port, request, clients, seconds)), seconds)
        after = cpu_seconds(pid)
        # CPU time the server spent per request: a figure the other tenants of a shared machine
        # disturb far less than the wall-clock rate
        run["server_cpu_us_per_request"] = (
            (after - before) / run["requests"] * 1e6
            if before is not None and after is not None and run["requests"]
            else None
        )
        runs.append(run)
    median = {
        key: statistics.median(r[key] for r in runs)
        for key in ("decisions_per_s", "p50_ms", "p90_ms", "p99_ms", "max_ms", "server_cpu_us_per_request")
        if all(r[key] is not None for r in runs)
    }
    errors = sum(sum(r["errors"].values()) for r in runs)
    not_ok = sum(r["requests"] - r["statuses"].get("200", 0) for r in runs)
    return {"clients": clients, "seconds": seconds, "median": median, "errors": errors, "non_200": not_ok,
            "runs": runs}  # fmt: skip


def _batch(port: int, states: list[dict[str, Any]], n: int) -> dict[str, Any]:
    body = json.dumps({"states": states}).encode()
    request = loadgen.encode_request("POST", "/decide", f"{HOST}:{port}", body)
    result = asyncio.run(loadgen.timed_requests(HOST, port, request, n + 2))
    inside = result.server_timings_ms[2:]
    return {
        "states": len(states),
        "requests": n,
        "statuses": {str(k): v for k, v in result.statuses.items()},
        "in_service_ms": {
            "median": statistics.median(inside) if inside else None,
            "max": max(inside) if inside else None,
        },
        "round_trip_ms": _ms(result.latencies[2:]),
    }


def _stalled(
    port: int, body: bytes, stalled: int, clients: int, seconds: float, wait: float
) -> dict[str, Any]:
    host = f"{HOST}:{port}"
    partial = loadgen.encode_request("POST", "/decide", host, body)[: -(len(body) // 2)]
    request = loadgen.encode_request("POST", "/decide", host, body)
    out = asyncio.run(loadgen.stalled_clients(HOST, port, partial, stalled, request, clients, seconds, wait))
    cut = out.pop("cut_off_after_s")
    return {
        **{k: v for k, v in out.items() if k != "load"},
        "cut_off_after_s": {"min": min(cut), "max": max(cut)} if cut else None,
        "others": _load_summary(out["load"], seconds),
    }


def _artefacts(root: Path) -> dict[str, Path]:
    """A base-stock artefact and an exported PPO network (trained briefly: speed, not quality)."""
    from stocklab.agents.sb3.agent import SB3Agent
    from stocklab.baselines.policies.classic import build_policy
    from stocklab.experiments.deploy.export import export_policy

    cfg = parse_env_config(BENCH_ENV)
    export_policy(build_policy("base_stock", cfg, {"level": 17}), cfg, root / "base_stock")
    ppo = SB3Agent(cfg, algo="ppo", hyperparams={"n_steps": 256, "batch_size": 64}, seed=0)
    ppo.learn(512)
    export_policy(ppo.policy(), cfg, root / "onnx_ppo", name="ppo")
    ppo.close()
    return {"base_stock": root / "base_stock", "onnx_ppo": root / "onnx_ppo"}


def bench_service(
    *,
    seconds: float = 5.0,
    repeats: int = 3,
    clients: int = 16,
    burst: int = 128,
    stalled: int = 200,
    stall_wait: float = 20.0,
    batch_requests: int = 30,
    server_args: list[str] | None = None,
) -> dict[str, Any]:
    """Run every phase against a fresh service per artefact; return the figures (JSON-ready)."""
    states = _states(1000)
    single = json.dumps({"state": states[3]}).encode()
    out: dict[str, Any] = {"host": HOST, "server_args": server_args or [], "cpu_count": os.cpu_count(),
                           "load_average_at_start": list(os.getloadavg())}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="stocklab-bench-service-") as tmp:
        root = Path(tmp)
        # torch trains the PPO network in a child process: its thread pool must not share this
        # process (the load generator) with the server under test
        ctx = multiprocessing.get_context("spawn")
        child = ctx.Process(target=_artefacts, args=(root,))
        child.start()
        child.join()
        if child.exitcode != 0:
            raise BenchError(f"building the benchmark artefacts failed (exit code {child.exitcode})")
        for name in ("base_stock", "onnx_ppo"):
            directory = root / name
            with running_service(directory, root, server_args) as (port, pid):
                figures: dict[str, Any] = {"single": _single(port, pid, single, clients, seconds, repeats)}
                figures["batch_1000"] = _batch(port, states, batch_requests)
                figures["burst"] = _load_summary(
                    asyncio.run(loadgen.burst(HOST, port, _post(port, single), burst)), 1.0
                )
                if name == "base_stock" and stalled:
                    figures["stalled"] = _stalled(port, single, stalled, clients, seconds, stall_wait)
            out[name] = figures
    out["load_average_at_end"] = list(os.getloadavg())
    out["targets"] = _targets(out)
    return out


def _post(port: int, body: bytes) -> bytes:
    return loadgen.encode_request("POST", "/decide", f"{HOST}:{port}", body)


def _targets(out: dict[str, Any]) -> dict[str, bool | None]:
    """The issue's targets, checked against the measured medians."""
    base, ppo = out["base_stock"], out["onnx_ppo"]

    def clean(r: dict[str, Any]) -> bool:
        return r["errors"] == 0 and r["non_200"] == 0

    stall = base.get("stalled")
    return {
        "base_stock_single_>=2000_per_s": base["single"]["median"].get("decisions_per_s", 0) >= 2000,
        "onnx_ppo_single_>=1000_per_s": ppo["single"]["median"].get("decisions_per_s", 0) >= 1000,
        "p99_<=20ms_no_errors": all(
            (r["single"]["median"].get("p99_ms") or 1e9) <= 20 and clean(r["single"]) for r in (base, ppo)
        ),
        "batch_1000_<=10ms_in_service": all(
            (r["batch_1000"]["in_service_ms"]["median"] or 1e9) <= 10 for r in (base, ppo)
        ),
        "stalled_others_p99_<=50ms": None if stall is None else (stall["others"]["p99_ms"] or 1e9) <= 50,
        "stalled_all_cut_off": None if stall is None else stall["still_open"] == 0,
    }
