"""`stocklab run --executor ray`: the same results as the local executor, resume across executors,
failing units retried once then named, cancellation, and bad --address / --executor rejected.

One local Ray cluster with 2 CPUs serves the whole module (starting one takes seconds).
"""

from __future__ import annotations

import filecmp
import shutil
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

ray = pytest.importorskip("ray")

from stocklab.experiments.cli.app import app  # noqa: E402
from stocklab.experiments.config import load_config  # noqa: E402
from stocklab.experiments.run.progress import ProgressBoard  # noqa: E402
from stocklab.experiments.run.ray_executor import (  # noqa: E402
    CANCELLED,
    RayExecutor,
    UnitFailed,
    cancel_all,
    connect,
)
from stocklab.experiments.run.runner import RunOptions, run_experiment  # noqa: E402

CONFIG = {
    "name": "ray_case",
    "env": {
        "lead_time": 2,
        "demand": {"dist": "poisson", "mean": 5},
        "costs": {"holding": 1, "shortage": 9},
        "initial": {"on_hand": 10},
    },  # fmt: skip
    "policies": [
        {"name": "bs", "kind": "base_stock"},  # tuned: a build with real work
        {"name": "ss", "kind": "ss", "params": {"s": 12, "S": 20}},
        {"name": "const", "kind": "constant", "params": {"quantity": 4}},
    ],
    "evaluation": {"episodes": 6, "periods": 80, "warmup": 10, "seed": 5, "trace_periods": 20},
}
RESULTS = ("episodes.csv", "summary.json", "summary.csv")


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster with 2 CPUs, shared by every test here; test functions reach the workers."""
    if ray.is_initialized():
        ray.shutdown()
    connect(num_cpus=2)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ray_cfg") / "ray_case.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


def run(config: Path, out: Path, executor: str, jobs: int = 1) -> Path:
    cfg = load_config(config)
    return run_experiment(cfg, RunOptions(out=out, jobs=jobs, executor=executor, progress=False))


@pytest.fixture(scope="module")
def both(cluster, config, tmp_path_factory):
    """The same config run on the local executor (inline) and on Ray."""
    base = tmp_path_factory.mktemp("ray_runs")
    return run(config, base / "local", "local"), run(config, base / "ray", "ray")


def records(root: Path) -> dict[Path, int]:
    """Every finished unit's record (relative path) and its modification time (ns)."""
    return {p.relative_to(root): p.stat().st_mtime_ns for p in root.rglob("*.json") if p.parent != root}


def same_results(a: Path, b: Path) -> None:
    for name in RESULTS:
        assert filecmp.cmp(a / name, b / name, shallow=False), name


def test_ray_gives_byte_identical_results_to_local(both):
    local, on_ray = both
    same_results(local, on_ray)
    assert records(local).keys() == records(on_ray).keys()
    assert '"executor": "ray"' in (on_ray / "manifest.json").read_text()


def interrupt(root: Path) -> set[Path]:
    """Leave ``root`` as a run killed mid-way leaves it: some builds and episodes not done."""
    gone = {Path("policies/bs/record.json"), Path("episodes/ss/00003.json"), Path("episodes/ss/00005.json")}
    gone |= {p for p in records(root) if p.parts[:2] == ("episodes", "bs")}
    for p in gone:
        (root / p).unlink()
    return gone


@pytest.mark.parametrize(("first", "then"), [("local", "ray"), ("ray", "local")])
def test_run_interrupted_on_one_executor_finishes_on_the_other(both, config, tmp_path, first, then):
    reference = both[0]
    start = both[0] if first == "local" else both[1]
    root = tmp_path / "out" / "ray_case"
    shutil.copytree(start, root)
    redo = interrupt(root)
    kept = {p: t for p, t in records(root).items()}
    time.sleep(0.01)
    run(config, tmp_path / "out", then)
    same_results(reference, root)
    after = records(root)
    assert redo <= after.keys()  # the missing units were run ...
    assert all(after[p] == t for p, t in kept.items())  # ... and the finished ones were not


def test_failing_unit_is_retried_once_then_named(cluster, config, tmp_path, capfd):
    out = tmp_path / "out"
    root = out / "ray_case"
    (root / "policies").mkdir(parents=True)
    (root / ".lock").touch()
    (root / "policies" / "ss").write_text("a file where the build's folder goes")  # every attempt fails
    capfd.readouterr()
    with pytest.raises(UnitFailed, match=r"build of policy 'ss' failed on 2 attempts: FileExistsError"):
        run(config, out, "ray")
    time.sleep(1.0)  # Ray's driver prints worker errors from a thread of its own
    printed = capfd.readouterr()
    assert "Traceback" not in printed.err + printed.out  # the one message above is the report


def count_then_fail(path: str, fail_until: int, progress=None) -> int:
    """A unit that fails on its first ``fail_until`` attempts (attempts counted in ``path``)."""
    with open(path, "a") as f:
        f.write("x")
    attempts = len(Path(path).read_text())
    if attempts <= fail_until:
        raise ValueError(f"boom on attempt {attempts}")
    return attempts


def test_executor_retries_exactly_once(cluster, tmp_path):
    executor = RayExecutor(ProgressBoard(enabled=False))
    ok = executor.submit(("build", "flaky"), count_then_fail, str(tmp_path / "a"), 1)
    assert ok.result(timeout=60) == 2  # failed once, the retry succeeded
    bad = executor.submit(("eval", "broken"), count_then_fail, str(tmp_path / "b"), 5)
    with pytest.raises(UnitFailed, match=r"evaluation of policy 'broken' failed on 2 attempts: .*boom"):
        bad.result(timeout=60)
    assert (tmp_path / "b").read_text() == "xx"  # two attempts, not more


def sleeper(seconds: float, progress=None) -> float:
    time.sleep(seconds)
    return seconds


def test_stop_cancels_running_units(cluster):
    executor = RayExecutor(ProgressBoard(enabled=False))
    fut = executor.submit(("build", "slow"), sleeper, 60.0)
    time.sleep(1.0)
    t0 = time.perf_counter()
    executor.stop()  # what Ctrl-C does (the runner stops its executor on any exception)
    with pytest.raises(UnitFailed, match="build of policy 'slow' was cancelled: TaskCancelledError"):
        fut.result(timeout=30)
    assert time.perf_counter() - t0 < 30


def test_cancel_all_stops_every_executor_and_refuses_new_units(cluster):
    board = ProgressBoard(enabled=False)
    running = RayExecutor(board).submit(("build", "a"), sleeper, 60.0)
    try:
        cancel_all()  # what Ctrl-C during a sweep does
        with pytest.raises(UnitFailed, match="build of policy 'a' was cancelled"):
            running.result(timeout=30)
        with pytest.raises(UnitFailed, match="was not started"):
            RayExecutor(board).submit(("build", "b"), sleeper, 0.0)
    finally:
        CANCELLED.clear()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--executor", "ray", "--address", "127.0.0.1:1"], "no Ray cluster answers at 127.0.0.1:1"),
        (["--executor", "ray", "--address", "not-an-address"], "expected HOST:PORT"),
        (["--executor", "dask"], "--executor 'dask': expected one of local, ray"),
        (["--address", "127.0.0.1:6379"], "only with --executor ray"),
    ],
)
def test_bad_executor_or_address_is_one_clear_error(config, tmp_path, args, message):
    result = CliRunner().invoke(app, ["run", str(config), "--out", str(tmp_path), "--quiet", *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_ray_extra_keeps_stack_consistent():
    """The extra installed with the rest: versions not downgraded, and pip check clean."""
    import subprocess

    versions = {p: metadata.version(p) for p in ("ray", "gymnasium", "pandas", "numpy", "torch")}
    assert versions["gymnasium"] == "1.4.0" and versions["pandas"] == "3.1.1", versions
    assert versions["numpy"] == "2.4.6" and versions["torch"].startswith("2.13.0"), versions
    assert int(versions["ray"].split(".")[0]) == 2
    assert not any(d.startswith("ray[rllib]") for d in metadata.requires("stocklab") or [])
    check = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_sweep_on_ray_gives_the_local_comparison(cluster, tmp_path):
    from stocklab.experiments.run.sweep import run_sweep

    data = {**CONFIG, "policies": CONFIG["policies"][1:], "sweep": {"env.lead_time": [1, 2]}}
    data["evaluation"] = {**CONFIG["evaluation"], "episodes": 3, "periods": 40}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))
    local, _ = run_sweep(path, None, RunOptions(out=tmp_path / "local", progress=False))
    on_ray, _ = run_sweep(path, None, RunOptions(out=tmp_path / "ray", executor="ray", progress=False))
    assert (local / "sweep.csv").read_bytes() == (on_ray / "sweep.csv").read_bytes()
    assert len((local / "sweep.csv").read_text().splitlines()) == 1 + 2 * 2  # settings x policies
    assert "3 episodes" in (local / "sweep.csv").read_text()  # one seed: the CI is over the episodes
