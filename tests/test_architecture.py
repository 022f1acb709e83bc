"""The architecture is a contract (import-linter, in pyproject.toml): it holds, and it bites.

The layers: experiments above agents | baselines (independent) above envs; inside experiments only
the CLI sits on top; inside envs the core contract imports nothing else of envs. The check runs on
a copy of the four packages, so that planting a bad import never touches the working tree.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).parent / "lint-imports"
FOLDERS = ("envs", "agents", "baselines", "experiments")


def lint(tree: Path) -> subprocess.CompletedProcess:
    """Run lint-imports with the project's contracts on the ``stocklab`` namespace found in ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=tree, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A copy of the four packages as the ``stocklab`` namespace (no __init__ at its top)."""
    base = tmp_path_factory.mktemp("tree")
    for folder in FOLDERS:
        shutil.copytree(
            ROOT / folder, base / "stocklab" / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    return base


@pytest.mark.slow
def test_contracts_hold(tree):
    res = lint(tree)
    assert res.returncode == 0, res.stdout + res.stderr
    assert re.search(r"Contracts: [1-9]\d* kept, 0 broken", res.stdout), res.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("envs/core/_probe.py", "import stocklab.envs.config\n", "core contract imports nothing else"),
        ("envs/_probe.py", "import stocklab.experiments.config\n", "experiments above agents"),
        ("agents/_probe.py", "import stocklab.baselines.registry\n", "experiments above agents"),
        ("experiments/run/_probe.py", "import stocklab.experiments.cli.app\n", "Nothing imports the CLI"),
    ],
)
def test_a_planted_bad_import_breaks_a_contract(tree, module, line, contract):
    probe = tree / "stocklab" / module
    probe.write_text(line)
    try:
        res = lint(tree)
    finally:
        probe.unlink()
    assert res.returncode != 0
    assert contract in res.stdout and "BROKEN" in res.stdout, res.stdout
