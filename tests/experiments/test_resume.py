"""Crash safety: `stocklab run` killed at a random point (SIGKILL) or interrupted (Ctrl-C) and run again
finishes with results identical to an uninterrupted run, without redoing finished units."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

STOCKLAB = [sys.executable, "-c", "from stocklab.experiments.cli.app import main; main()"]

CONFIG = {
    "name": "resume_case",
    "env": {
        "lead_time": 2,
        "demand": {"dist": "poisson", "mean": 5},
        "costs": {"holding": 1, "shortage": 9},
        "initial": {"on_hand": 10},
    },  # fmt: skip
    "policies": [
        {"name": "bs", "kind": "base_stock"},  # tuned
        {"name": "ss", "kind": "ss", "params": {"s": 12, "S": 20}},
        {"name": "capped", "kind": "capped_base_stock", "params": {"level": 18, "cap": 8}},
        {"name": "lp", "kind": "lp", "params": {"horizon": 4}},  # slow per period: kills land mid-evaluation
        {"name": "const", "kind": "constant", "params": {"quantity": 4}},
    ],
    "evaluation": {"episodes": 6, "periods": 120, "warmup": 10, "seed": 5, "trace_periods": 20},
}
RESULTS = ("episodes.csv", "summary.json", "summary.csv")


def start(config: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*STOCKLAB, "run", str(config), "--out", str(out), "--quiet", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=config.parent,
    )  # fmt: skip


def finish(config: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    proc = start(config, out, *extra)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def units(run: Path) -> dict[Path, int]:
    """Finished unit records and their modification times (ns)."""
    return {p: p.stat().st_mtime_ns for p in run.rglob("*.json") if p.parent.name != run.name}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run, and how long it took (seconds, process start to exit)."""
    base = tmp_path_factory.mktemp("resume")
    config = base / "resume_case.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    t0 = time.perf_counter()
    finish(config, base / "reference")
    return config, base / "reference" / "resume_case", time.perf_counter() - t0


@pytest.mark.slow
def test_sigkill_at_random_points_then_rerun_gives_identical_results(reference, tmp_path):
    config, ref, _ = reference
    work = json.loads((ref / "manifest.json").read_text())["wall_seconds"]  # seconds from start of work
    rng = random.Random(20261123)  # the kill instants are random but the test is reproducible
    interrupted = 0
    for attempt in range(5):
        out = tmp_path / f"killed{attempt}"
        run = out / "resume_case"
        proc = start(config, out)
        _wait_for(run / "manifest.json", proc)  # the config is loaded and work has begun
        delay = rng.uniform(0.0, 0.9) * work
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
        done = units(run)
        mid_run = bool(done) and not (run / "episodes.csv").exists()
        # resume; the first time with two worker processes: results do not depend on --jobs either
        finish(config, out, *(["--jobs", "2"] if attempt == 0 else []))
        for name in RESULTS:
            assert (run / name).read_bytes() == (ref / name).read_bytes(), (attempt, delay, name)
        for path, mtime in done.items():  # finished units were kept, not redone
            assert path.stat().st_mtime_ns == mtime, path
        interrupted += mid_run
        if interrupted:
            break
    assert interrupted, "no kill landed while the run was writing units"


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)


@pytest.mark.slow
def test_ctrl_c_exits_130_and_resumes(reference, tmp_path):
    config, ref, duration = reference
    proc = start(config, tmp_path)
    run = tmp_path / "resume_case"
    deadline = time.monotonic() + duration * 3
    # interrupt once work is under way: the DP optimum is the first unit, and every policy (the slow LP
    # among them) is still to come when its record appears
    while not (run / "optimum" / "record.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.fail("the run finished before it could be interrupted")
    assert proc.returncode == 130, stderr
    assert "run the same command again to resume" in stderr and "Traceback" not in stderr
    assert not (run / "episodes.csv").exists()
    finish(config, tmp_path)
    for name in RESULTS:
        assert (run / name).read_bytes() == (ref / name).read_bytes(), name
    assert not [p for p in run.rglob("*.tmp")], "temporary files left behind"


def test_no_worker_outlives_a_killed_run(tmp_path):
    """After SIGKILL of `stocklab run --jobs 2`, its worker processes exit by themselves."""
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({**CONFIG, "policies": [CONFIG["policies"][3]]}))
    proc = start(config, tmp_path / "out", "--jobs", "2")
    time.sleep(1.0)
    children = _children(proc.pid)
    deadline = time.monotonic() + 60
    while len(children) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
        children = _children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert children and not [pid for pid in children if _alive(pid)]


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
