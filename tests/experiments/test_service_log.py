"""The decision log: whole lines only, nothing lost under concurrent writer processes and rotation."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stocklab.envs.core.errors import ConfigError, DataError
from stocklab.experiments.deploy.decision_log import DecisionLog, log_files, read_decisions


def _writer(path: str, writer: int, batches: int, max_bytes: int, backups: int) -> None:
    """One process: ``batches`` writes of 1..5 lines each, every line tagged (writer, sequence)."""
    log = DecisionLog(path, max_bytes=max_bytes, backups=backups)
    seq = 0
    for b in range(batches):
        records = []
        for _ in range(1 + (writer + b) % 5):
            records.append({"writer": writer, "seq": seq, "pad": "x" * (17 * ((seq * 7) % 13))})
            seq += 1
        log.write(records)
    log.close()


def test_concurrent_writer_processes_with_rotation_lose_and_split_nothing(tmp_path):
    path = tmp_path / "decisions.jsonl"
    writers, batches, max_bytes = 4, 400, 16 * 1024
    ctx = multiprocessing.get_context("fork")  # the writers start at once, with this process's imports
    procs = [
        ctx.Process(target=_writer, args=(str(path), w, batches, max_bytes, 1000)) for w in range(writers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    files = log_files(path)
    assert len(files) > 10  # rotated many times while four processes wrote
    expected = {w: sum(1 + (w + b) % 5 for b in range(batches)) for w in range(writers)}
    seen: dict[int, list[int]] = {w: [] for w in range(writers)}
    for f in files:
        data = f.read_bytes()
        assert data.endswith(b"\n") and len(data) <= max_bytes  # whole lines; a batch never straddles files
        for line in data.splitlines():
            record = json.loads(line)  # every line is complete JSON
            seen[record["writer"]].append(record["seq"])
    for w in range(writers):
        assert seen[w] == list(range(expected[w]))  # all there, once, in each writer's order (oldest first)


@settings(max_examples=40, deadline=None)
@given(
    batches=st.lists(st.integers(1, 30), min_size=1, max_size=40),
    max_bytes=st.integers(1024, 4096),
    backups=st.integers(1, 4),
)
def test_rotation_keeps_the_newest_lines_whole_and_in_order(tmp_path_factory, batches, max_bytes, backups):
    path = tmp_path_factory.mktemp("log") / "d.jsonl"
    log = DecisionLog(path, max_bytes=max_bytes, backups=backups)
    n = 0
    for size in batches:
        log.write([{"n": n + i, "pad": "y" * 20} for i in range(size)])
        n += size
    log.close()
    files = log_files(path)
    assert len(files) <= backups + 1
    got = [r["n"] for _, _, r in read_decisions(path)]
    assert got == list(range(n - len(got), n))  # a suffix of everything written: only the oldest dropped
    for f in files:  # a file holds whole batches: below the limit, or one batch that is larger alone
        assert f.read_bytes().endswith(b"\n")


def test_a_write_that_fails_half_way_leaves_no_partial_line(tmp_path, monkeypatch):
    log = DecisionLog(tmp_path / "d.jsonl")
    log.write([{"a": 1}])
    real_write = os.write

    def half_then_full(fd: int, data: bytes) -> int:
        if fd == log._fd:
            real_write(fd, bytes(data)[:5])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OSError):
        log.write([{"b": 2}, {"c": 3}])
    monkeypatch.undo()
    log.write([{"d": 4}])
    assert (tmp_path / "d.jsonl").read_text() == '{"a":1}\n{"d":4}\n'


def test_another_process_rotation_is_followed(tmp_path):
    path = tmp_path / "d.jsonl"
    a, b = DecisionLog(path, max_bytes=1024), DecisionLog(path, max_bytes=1024)
    a.write([{"w": "a", "pad": "z" * 600}])
    b.write([{"w": "b", "pad": "z" * 600}])  # b rotates a's file away
    a.write([{"w": "a2"}])  # a must write to the new file, not to the rotated one
    assert [r["w"] for _, _, r in read_decisions(path)] == ["a", "b", "a2"]
    assert json.loads(path.read_text().splitlines()[-1])["w"] == "a2"


def test_unusable_paths_and_settings_are_config_errors(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a directory"):
        DecisionLog(tmp_path / "file" / "d.jsonl")
    with pytest.raises(ConfigError, match="cannot write there"):
        DecisionLog(tmp_path)
    with pytest.raises(ConfigError, match="max_bytes"):
        DecisionLog(tmp_path / "d.jsonl", max_bytes=10)


def test_a_damaged_line_is_a_data_error_naming_file_and_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"a": 1}\n{"b": \n')
    with pytest.raises(DataError, match=r"d.jsonl:2: not a JSON decision line"):
        list(read_decisions(path))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.none() | st.text(min_size=1, max_size=12), st.none() | st.integers(0, 10**6)),
        min_size=1,
        max_size=8,
    )
)
def test_decide_log_lines_keep_every_sku_and_period_exactly(tmp_path_factory, meta):
    """/decide logs a batch with one serialisation of the skus: any text (quotes, commas, escapes) survives."""
    from types import SimpleNamespace

    from stocklab.experiments.deploy.decide import DecideEndpoint

    path = tmp_path_factory.mktemp("declog") / "d.jsonl"
    log = DecisionLog(path)
    endpoint = DecideEndpoint.__new__(DecideEndpoint)  # only the log writer is exercised
    endpoint.log, endpoint.sha256 = log, "0" * 64
    endpoint.policy = SimpleNamespace(name="p")
    states = []
    for k, (sku, period) in enumerate(meta):
        state = {"on_hand": float(k), "pipeline": [1.0, 2.5]}
        if sku is not None:
            state["sku"] = sku
        if period is not None:
            state["period"] = period
        states.append(state)
    endpoint.write_log("rid", states, list(range(len(meta))))
    log.close()
    # lines end in "\n" only (str.splitlines would also split at U+2028 and others inside a sku)
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n")[:-1]]
    assert [(r["sku"], r["period"]) for r in lines] == meta
    assert [r["state"] for r in lines] == [
        {"on_hand": float(k), "pipeline": [1.0, 2.5]} for k in range(len(meta))
    ]
    assert [r["order"] for r in lines] == list(range(len(meta)))
