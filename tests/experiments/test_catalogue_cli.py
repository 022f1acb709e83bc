"""`stocklab catalogue synth`: the same seed writes the same file; bad arguments exit 2 with one message."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from stocklab.experiments.cli.app import app


def synth(*args: str):
    return CliRunner().invoke(app, ["catalogue", "synth", *args])


def test_synth_is_deterministic_and_atomic(tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    for path in (a, b):
        result = synth("--skus", "40", "--seed", "9", "--days", "100", "--out", str(path), "--json")
        assert result.exit_code == 0, result.output
        assert '"rows": 4000' in result.output
    assert a.read_bytes() == b.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet", "b.parquet"]  # no temporary left


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--skus", "0"], "--skus 0: must be between 1"),
        (["--skus", "5", "--days", "2"], "--days 2"),
        (["--skus", "5", "--start", "soon"], "--start 'soon': not a date"),
        (["--skus", "5", "--seed", "-1"], "--seed -1"),
        (["--skus", "5", "--out", "{tmp}/x.txt"], "unsupported file type '.txt'"),
        (["--skus", "5", "--out", "{tmp}"], "is a folder"),
    ],
)
def test_bad_arguments_exit_2_with_one_message(tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "cat.csv")]
    result = synth(*args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert not (tmp_path / "cat.csv").exists()
