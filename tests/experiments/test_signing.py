"""Signed artefacts: any edit is refused when a signature is required; unsigned ones only then."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from stocklab.baselines.policies.classic import build_policy
from stocklab.envs import ConfigError, PolicyError, parse_env_config
from stocklab.envs.core.storage import canonical_json
from stocklab.experiments.cli.app import app
from stocklab.experiments.deploy.artefact import seal
from stocklab.experiments.deploy.export import export_policy
from stocklab.experiments.deploy.runtime import load_policy
from stocklab.experiments.deploy.signing import KEY_ENV, load_key

ENV = parse_env_config(
    {"lead_time": 3, "demand": {"dist": "poisson", "mean": 5}, "unmet_demand": "backorder"}
)
KEY = b"0123456789abcdef0123456789abcdef"
OTHER = b"fedcba9876543210fedcba9876543210"
STATE = {"on_hand": 7, "pipeline": [5, 3]}


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def signed(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("signed")
    export_policy(build_policy("base_stock", ENV, {"level": 20}), ENV, root / "p", key=KEY)
    return root / "p"


@pytest.fixture
def copy(signed, tmp_path) -> Path:
    return Path(shutil.copytree(signed, tmp_path / "p"))


def test_the_signature_is_an_hmac_of_the_manifest(signed):
    manifest = json.loads((signed / "manifest.json").read_text())
    body = {k: v for k, v in manifest.items() if k != "signature"}
    expected = hmac.new(KEY, canonical_json(body), hashlib.sha256).hexdigest()  # RFC 2104 via stdlib
    assert manifest["signature"]["algorithm"] == "HMAC-SHA256"
    assert manifest["signature"]["hmac"] == expected
    assert load_policy(signed, key=KEY, require_signature=True).decide(STATE) == 5


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_changed_byte_is_refused_when_signatures_are_required(signed, data):
    files = sorted(p.name for p in signed.iterdir())
    name = data.draw(st.sampled_from(files), label="file")
    size = (signed / name).stat().st_size
    offset = data.draw(st.integers(0, size - 1), label="offset")
    bit = data.draw(st.integers(0, 7), label="bit")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(shutil.copytree(signed, Path(tmp) / "p"))
        raw = bytearray((folder / name).read_bytes())
        raw[offset] ^= 1 << bit
        (folder / name).write_bytes(bytes(raw))
        with pytest.raises(PolicyError):
            load_policy(folder, key=KEY, require_signature=True)


def reseal(folder: Path, *, keep_signature: bool) -> None:
    """Recompute every SHA-256 after an edit, as someone without the key would."""
    manifest = json.loads((folder / "manifest.json").read_text())
    signature = manifest.pop("signature")
    for key in ("files", "manifest_sha256", "format", "format_version"):
        manifest.pop(key)
    (folder / "manifest.json").unlink()
    manifest = seal(folder, manifest)
    if keep_signature:
        manifest["signature"] = signature
        (folder / "manifest.json").write_text(json.dumps(manifest))


def edit_level(folder: Path) -> None:
    params = json.loads((folder / "params.json").read_text())
    params["params"]["level"] = 30
    (folder / "params.json").write_text(json.dumps(params))


def test_a_resealed_edit_is_caught_by_the_signature(copy):
    edit_level(copy)
    reseal(copy, keep_signature=True)
    assert load_policy(copy).decide(STATE) == 15  # the SHA-256 sums alone no longer see the edit
    with pytest.raises(PolicyError, match="signature mismatch; the artefact was changed after it was signed"):
        load_policy(copy, key=KEY)
    with pytest.raises(PolicyError, match="signature mismatch"):
        load_policy(copy, key=KEY, require_signature=True)


def test_dropping_the_signature_makes_an_unsigned_artefact(copy):
    edit_level(copy)
    reseal(copy, keep_signature=False)
    with pytest.raises(PolicyError, match="not signed, and a signature is required"):
        load_policy(copy, key=KEY, require_signature=True)
    assert load_policy(copy, key=KEY).decide(STATE) == 15  # accepted when not required


def test_wrong_key_and_missing_key(signed):
    with pytest.raises(PolicyError, match="signed with key .* but the given key is"):
        load_policy(signed, key=OTHER)
    with pytest.raises(PolicyError, match="no key was given"):
        load_policy(signed, require_signature=True)
    assert load_policy(signed).decide(STATE) == 5  # not required, no key: checksums only


def test_unsigned_artefacts_are_refused_only_when_required(tmp_path):
    export_policy(build_policy("base_stock", ENV, {"level": 20}), ENV, tmp_path / "u")
    assert "signature" not in json.loads((tmp_path / "u" / "manifest.json").read_text())
    assert load_policy(tmp_path / "u").decide(STATE) == 5
    assert load_policy(tmp_path / "u", key=KEY).decide(STATE) == 5
    with pytest.raises(PolicyError, match="not signed"):
        load_policy(tmp_path / "u", key=KEY, require_signature=True)


def test_keys_from_the_environment_or_a_file(tmp_path):
    assert load_key(None, {}) is None
    assert load_key(None, {KEY_ENV: KEY.decode() + "\n"}) == KEY
    path = tmp_path / "key"
    path.write_bytes(KEY + b"\n")
    assert load_key(path, {KEY_ENV: OTHER.decode()}) == KEY  # the file wins
    with pytest.raises(ConfigError, match=r"\$STOCKLAB_SIGNING_KEY: the key has 5 bytes; give at least 16"):
        load_key(None, {KEY_ENV: "short"})
    with pytest.raises(ConfigError, match="--key-file .*: cannot read the key"):
        load_key(tmp_path / "missing")


def test_cli_signs_with_the_environment_key_and_act_requires_it(tmp_path):
    from stocklab.experiments.config import parse_config
    from stocklab.experiments.run.runner import RunOptions, run_experiment

    cfg = {
        "name": "tiny",
        "env": {"lead_time": 1, "demand": {"dist": "poisson", "mean": 3}, "max_order": 12},
        "policies": [{"name": "bs", "kind": "base_stock", "params": {"level": 6}}],
        "evaluation": {"episodes": 1, "periods": 20, "warmup": 0, "seed": 1, "exact": False},
    }
    run = run_experiment(parse_config(cfg), RunOptions(out=tmp_path / "runs", progress=False, report=False))
    env = {KEY_ENV: KEY.decode()}
    code, stdout, stderr = cli("export", str(run), "--policy", "bs", "--out", str(tmp_path / "p"), env=env)
    assert code == 0 and "signed with key" in stdout, stderr
    state = ["--state", '{"on_hand": 2}']
    assert cli("act", str(tmp_path / "p"), *state, "--require-signature", env=env)[:2] == (0, "4\n")
    key_file = tmp_path / "other.key"
    key_file.write_bytes(OTHER)
    code, _, stderr = cli(
        "act", str(tmp_path / "p"), *state, "--require-signature", "--key-file", str(key_file)
    )
    assert code == 2 and "signed with key" in stderr
    code, _, stderr = cli("act", str(tmp_path / "p"), *state, "--require-signature", env={KEY_ENV: ""})
    assert code == 2 and "no key was given" in stderr
    code, _, stderr = cli(
        "export", str(run), "--policy", "bs", "--out", str(tmp_path / "q"), env={KEY_ENV: "short"}
    )
    assert code == 2 and "at least 16" in stderr and not (tmp_path / "q").exists()
