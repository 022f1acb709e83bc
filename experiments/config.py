"""The experiment config: ``name``, ``env``, ``policies``, ``evaluation`` (YAML, pydantic-validated).

Example (``configs/quickstart.yaml``)::

    name: lost_sales_p9_L2
    env: {lead_time: 2, demand: {dist: poisson, mean: 5}, costs: {holding: 1, shortage: 9}}
    policies:
      - {name: optimal, kind: optimal}
      - {name: base_stock, kind: base_stock}            # tuned automatically
      - {name: ss, kind: ss, params: {s: 12, S: 20}}    # fixed parameters
      - {name: qlearning, kind: q_learning, train: {steps: 200000}}
    evaluation: {episodes: 20, periods: 2000, warmup: 100, seed: 1}

Schema errors name the key path, the value and what is allowed; policy parameters are checked against
their kind after the schema (:func:`load_config` runs both).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, NonNegativeInt, PositiveInt, field_validator, model_validator

from stocklab.envs.config import EnvConfig
from stocklab.envs.core.errors import ConfigError, did_you_mean
from stocklab.envs.core.schema import StrictModel, validate_section

#: Learning agents: tabular ones and Stable-Baselines3 algorithms (by lower-case name).
AGENT_KINDS = ("q_learning", "sarsa", "ppo", "a2c", "dqn")
#: Policies tuned by simulation or solved (no learning budget).
BASELINE_KINDS = (
    "base_stock", "ss", "rq", "constant", "newsvendor", "capped_base_stock", "lp", "optimal",
)  # fmt: skip
#: Policy kinds a config may name.
POLICY_KINDS = AGENT_KINDS + BASELINE_KINDS

#: Names end up in file names (``runs/<name>/policies/<policy>/``), so they are kept path-safe.
NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"


class TrainConfig(StrictModel):
    """Training (agents) or tuning (classic policies) budget of one policy.

    ``steps``: environment steps of training (agents only). ``episodes`` x ``periods``: simulation
    budget per candidate of tuning by simulation (classic policies), or per evaluation of the policy
    during training (agents: every ``eval_every`` steps; the learning curve, the best policy is kept;
    training stops after ``patience`` evaluations without improvement). ``seed``: base seed of
    training / tuning; by default derived from ``evaluation.seed`` and the policy name. Training and
    tuning never use the evaluation seeds.
    """

    steps: PositiveInt | None = None
    episodes: PositiveInt | None = None
    periods: PositiveInt | None = None
    eval_every: PositiveInt | None = None
    patience: PositiveInt | None = None
    seed: NonNegativeInt | None = None


class PolicyConfig(StrictModel):
    """One policy to train, tune or take as given.

    ``params`` fixes a classic policy's parameters (empty: tuned); ``hyperparams`` go to the learning
    algorithm (e.g. ``n_envs``, ``learning_rate``).
    """

    name: str = Field(min_length=1, pattern=NAME_PATTERN)
    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    train: TrainConfig = Field(default_factory=TrainConfig)
    hyperparams: dict[str, Any] = Field(default_factory=dict)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in POLICY_KINDS:
            raise ValueError(
                f"unknown policy kind '{kind}'.{did_you_mean(kind, POLICY_KINDS)} Allowed: {', '.join(POLICY_KINDS)}"
            )
        return kind

    @model_validator(mode="after")
    def _budget_fits_kind(self) -> PolicyConfig:
        if self.kind in AGENT_KINDS and self.params:
            raise ValueError(
                f"'params' is for classic policies; {self.kind} takes 'hyperparams' and 'train' "
                f"(got params {self.params!r})"
            )
        if self.kind not in AGENT_KINDS:
            for key in ("steps", "eval_every", "patience"):
                if getattr(self.train, key) is not None:
                    raise ValueError(
                        f"train.{key} is for learning agents ({', '.join(AGENT_KINDS)}), not {self.kind}"
                    )
            if self.hyperparams:
                raise ValueError(f"'hyperparams' is for learning agents, not {self.kind} (use 'params')")
        return self


class EvaluationConfig(StrictModel):
    """Evaluation protocol: ``episodes`` x ``periods`` (after ``warmup`` periods) on common random
    numbers from ``seed``; ``trace_periods`` periods of the first episode are kept for the trajectory
    plot; ``exact`` computes the DP optimum and exact policy costs where the instance allows.
    """

    episodes: PositiveInt = 20
    periods: PositiveInt | None = None
    warmup: NonNegativeInt = 0
    seed: NonNegativeInt = 1
    trace_periods: PositiveInt = 60
    exact: bool = True


class ExperimentConfig(StrictModel):
    """A whole experiment."""

    name: str = Field(default="experiment", min_length=1, pattern=NAME_PATTERN)
    env: EnvConfig = Field(default_factory=EnvConfig)
    policies: list[PolicyConfig] = Field(default_factory=list)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)

    @field_validator("policies")
    @classmethod
    def _unique_names(cls, policies: list[PolicyConfig]) -> list[PolicyConfig]:
        dupes = [n for n, c in Counter(p.name for p in policies).items() if c > 1]
        if dupes:
            raise ValueError(f"policy names must be unique; repeated: {', '.join(dupes)}")
        return policies

    @property
    def eval_periods(self) -> int:
        """Measured periods per evaluation episode (``evaluation.periods``, else ``env.periods``)."""
        return self.evaluation.periods or self.env.periods


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply ``--set a.b.c=value`` (value parsed as YAML) to the raw config dict in place.

    A numeric part indexes a list: ``--set policies.1.train.steps=1000``.
    """
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r}: expected KEY=VALUE, e.g. evaluation.episodes=50")
    key, raw = assignment.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"--set {assignment!r}: empty part in key '{key}'")
    node: Any = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        path = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"--set {key}: '{path}' needs a list index 0..{len(node) - 1}")
            part = int(part)  # type: ignore[assignment]
        elif not isinstance(node, dict):
            raise ConfigError(f"--set {key}: '{'.'.join(parts[:depth])}' is not a section")
        try:
            value = yaml.safe_load(raw) if last else None
        except yaml.YAMLError:
            raise ConfigError(f"--set {key}: value {raw!r} is not valid YAML") from None
        if last:
            node[part] = value
        else:
            if isinstance(node, dict) and part not in node:
                node[part] = {}
            node = node[part]


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


def parse_config(data: dict[str, Any], base_dir: str | None = None, check: bool = True) -> ExperimentConfig:
    """Validate a raw config dict; with ``check``, also each policy's parameters against its kind."""
    if data.get("policies") == []:
        # Only an explicit empty list: configs without a policies section serve `simulate` and `optimal`.
        raise ConfigError(
            "policies: empty list; list at least one policy, e.g. {name: base_stock, kind: base_stock}"
        )
    cfg = validate_section(ExperimentConfig, data, context={"base_dir": base_dir})
    if check:
        from stocklab.experiments.run.builders import check_policies

        check_policies(cfg)
    return cfg


def load_config(path: str | Path, overrides: list[str] | None = None, check: bool = True) -> ExperimentConfig:
    """Load and validate an experiment config file; ConfigError names the key path on failure."""
    path = Path(path)
    data = read_yaml(path)
    for assignment in overrides or []:
        apply_override(data, assignment)
    return parse_config(data, base_dir=str(path.parent), check=check)
