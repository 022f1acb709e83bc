"""The install maps the four folders under the stocklab namespace, and only there."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("envs", "agents", "baselines", "experiments")


@pytest.mark.slow
def test_wheel_contains_every_subpackage_and_no_bare_names(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("stocklab-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for folder in FOLDERS:
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.relative_to(ROOT).as_posix()
            assert f"stocklab/{rel}" in names, rel
        for module in (ROOT / folder).rglob("*.py"):
            rel = module.relative_to(ROOT).as_posix()
            assert f"stocklab/{rel}" in names, rel
    tops = {n.split("/")[0] for n in names}
    assert not tops & set(FOLDERS), tops
    # PEP 561: the py.typed marker tells type checkers that each package ships its annotations.
    for folder in FOLDERS:
        assert f"stocklab/{folder}/py.typed" in names, folder


@pytest.mark.parametrize("name", FOLDERS)
def test_bare_names_are_not_importable_outside_the_repo(name, tmp_path):
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({name!r}) is not None)"
    assert subprocess.run([sys.executable, "-c", code], cwd=tmp_path).returncode == 0
    code = f"import stocklab.{name}"
    assert subprocess.run([sys.executable, "-c", code], cwd=tmp_path).returncode == 0


def test_lint_rule_bans_bare_imports(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import envs\nfrom agents import tabular\n")
    ruff = Path(sys.executable).parent / "ruff"
    res = subprocess.run(
        [str(ruff), "check", "--config", str(ROOT / "pyproject.toml"), "--no-cache", str(bad)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert res.returncode == 1
    assert res.stdout.count("TID251") == 2, res.stdout


def test_no_code_imports_bare_names_or_climbs_layers():
    """envs imports no other stocklab package; agents and baselines never import each other."""
    rules = {
        "envs": ("stocklab.agents", "stocklab.baselines", "stocklab.experiments"),
        "agents": ("stocklab.baselines", "stocklab.experiments"),
        "baselines": ("stocklab.agents", "stocklab.experiments"),
    }
    for folder, banned in rules.items():
        for module in (ROOT / folder).rglob("*.py"):
            text = module.read_text()
            for name in banned:
                assert f"import {name}" not in text and f"from {name}" not in text, (module, name)
