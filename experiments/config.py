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
from stocklab.envs.core.errors import ConfigError, StocklabError
from stocklab.envs.core.kinds import PolicySpec, check_name
from stocklab.envs.core.schema import StrictModel, validate_section


class PolicyConfig(PolicySpec):
    """One policy to train, tune or take as given; its ``kind`` is one of the registry's kinds."""

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        from stocklab.experiments.kinds import REGISTRY

        try:
            REGISTRY.get(kind)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return kind

    @model_validator(mode="after")
    def _sections_fit_kind(self) -> PolicyConfig:
        from stocklab.experiments.kinds import REGISTRY

        try:
            REGISTRY.check_spec(self)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return self


class EvaluationConfig(StrictModel):
    """The evaluation protocol, the same for every policy of the experiment.

    ``episodes`` x ``periods`` (after ``warmup`` periods) on common random numbers from ``seed``;
    ``trace_periods`` periods of the first episode are kept for the trajectory plot; ``exact``
    computes the DP optimum and exact policy costs where the instance allows.
    """

    episodes: PositiveInt = 20
    periods: PositiveInt | None = None
    warmup: NonNegativeInt = 0
    seed: NonNegativeInt = 1
    trace_periods: PositiveInt = 60
    exact: bool = True


def check_unique_names(names: list[str]) -> None:
    """ValueError naming the policy names a config repeats (results are keyed by name)."""
    dupes = [n for n, c in Counter(names).items() if c > 1]
    if dupes:
        raise ValueError(f"policy names must be unique; repeated: {', '.join(dupes)}")


class ExperimentConfig(StrictModel):
    """A whole experiment."""

    name: str = "experiment"
    env: EnvConfig = Field(default_factory=EnvConfig)
    policies: list[PolicyConfig] = Field(default_factory=list)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        return check_name(value, "the experiment name")

    @field_validator("policies")
    @classmethod
    def _unique_names(cls, policies: list[PolicyConfig]) -> list[PolicyConfig]:
        check_unique_names([p.name for p in policies])
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


#: libyaml's safe loader where PyYAML was built with it: the same documents, a tenth of the time
#: (the pure-Python one takes 30 ms of `stocklab validate`'s start-up on the quickstart config).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; ConfigError for a missing, unreadable or non-mapping file."""
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
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
        check_policies(cfg)
    return cfg


def check_policies(cfg: ExperimentConfig, deep: bool = False) -> None:
    """Check every policy entry against its kind and the env; ConfigError names ``policies[i]``.

    ``deep`` adds the checks that import heavy libraries (torch, for SB3 hyper-parameters).
    """
    from stocklab.experiments.kinds import REGISTRY

    for i, spec in enumerate(cfg.policies):
        kind = REGISTRY.get(spec.kind)
        try:
            kind.check(cfg.env, spec, deep)
        except StocklabError as exc:
            where = f"policies[{i}] ({spec.name})"
            if spec.params and kind.family == "classic":
                where += ".params"
            raise ConfigError(f"{where}: {exc}") from None


def load_config(path: str | Path, overrides: list[str] | None = None, check: bool = True) -> ExperimentConfig:
    """Load and validate an experiment config file; ConfigError names the key path on failure."""
    path = Path(path)
    data = read_yaml(path)
    for assignment in overrides or []:
        apply_override(data, assignment)
    return parse_config(data, base_dir=str(path.parent), check=check)
