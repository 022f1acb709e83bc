"""The experiment config: ``name``, ``env``, ``policies``, ``evaluation`` (YAML, pydantic-validated)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, NonNegativeInt, PositiveInt, field_validator

from stocklab.envs.config import EnvConfig
from stocklab.envs.errors import ConfigError, did_you_mean
from stocklab.envs.schema import StrictModel, validate_section

#: Policy kinds a config may name.
POLICY_KINDS = (
    "q_learning", "sarsa", "ppo", "a2c", "dqn",
    "base_stock", "ss", "rq", "constant", "newsvendor", "capped_base_stock", "lp", "optimal",
)  # fmt: skip


class PolicyConfig(StrictModel):
    """One policy to train, tune or take as given."""

    name: str = Field(min_length=1)
    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    train: dict[str, Any] = Field(default_factory=dict)
    hyperparams: dict[str, Any] = Field(default_factory=dict)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in POLICY_KINDS:
            raise ValueError(
                f"unknown policy kind '{kind}'.{did_you_mean(kind, POLICY_KINDS)} Allowed: {', '.join(POLICY_KINDS)}"
            )
        return kind


class EvaluationConfig(StrictModel):
    """Evaluation protocol: episodes x periods on common random numbers from ``seed``."""

    episodes: PositiveInt = 20
    periods: PositiveInt | None = None
    warmup: NonNegativeInt = 0
    seed: int = 1


class ExperimentConfig(StrictModel):
    """A whole experiment."""

    name: str = Field(default="experiment", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    env: EnvConfig = Field(default_factory=EnvConfig)
    policies: list[PolicyConfig] = Field(default_factory=list)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply ``--set a.b.c=value`` (value parsed as YAML) to the raw config dict in place."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r}: expected KEY=VALUE, e.g. evaluation.episodes=50")
    key, raw = assignment.split("=", 1)
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: '{part}' is not a section")
    node[parts[-1]] = yaml.safe_load(raw)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; ConfigError for a missing, unreadable or non-mapping file."""
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections, got {type(data).__name__}")
    return data


def load_config(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Load and validate an experiment config file; ConfigError names the key path on failure."""
    path = Path(path)
    data = read_yaml(path)
    for assignment in overrides or []:
        apply_override(data, assignment)
    return validate_section(ExperimentConfig, data, context={"base_dir": str(path.parent)})
