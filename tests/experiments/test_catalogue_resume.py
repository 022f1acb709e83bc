"""A catalogue run killed with SIGKILL resumes: finished jobs are read back, the rest run, the same bytes.

The reference is the session's uninterrupted run of the same config (``catalogue_run``). The run
under test is killed once two of its jobs have saved their records, then started again: it must say
it resumes, recompute only what was missing, and write tables and policy parameters byte for byte
equal to the reference's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

TABLES = ("catalogue_episodes.csv", "catalogue_periods.csv", "catalogue_trace.csv")


def _records(root: Path) -> list[Path]:
    return sorted((root / "units").glob("*/record.json"))  # pathlib's * also matches the hidden .bound


@pytest.mark.slow
def test_killed_catalogue_run_resumes_to_the_same_bytes(catalogue_run: Path, tmp_path: Path, svc) -> None:
    out = tmp_path / "runs"
    args = ["run", str(svc.ROOT / "configs" / "catalogue_small.yaml"), "--out", str(out)]
    args += [a for s in svc.CATALOGUE_SETTINGS for a in ("--set", s)]
    root = out / "catalogue_small"
    proc = subprocess.Popen([*svc.CLI, *args, "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while len(_records(root)) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(_records(root))
    assert 2 <= done < 6 and not (root / "catalogue_run.json").exists()
    again = svc.run_cli(*args, timeout=600)
    assert again.returncode == 0, again.stderr
    assert f"resuming; {done} job(s) already done" in again.stderr
    for name in TABLES:
        assert (root / name).read_bytes() == (catalogue_run / name).read_bytes(), name
    for path in sorted((catalogue_run / "policies").glob("*.json")):
        assert (root / "policies" / path.name).read_bytes() == path.read_bytes(), path.name
    ours, ref = (json.loads((r / "catalogue_run.json").read_text()) for r in (root, catalogue_run))
    for key in ("train_skus", "catalogue", "capacity", "budget"):
        assert ours[key] == ref[key], key
    untimed = [{k: v for k, v in r["bound"].items() if k != "seconds"} for r in (ours, ref)]
    assert untimed[0] == untimed[1]
