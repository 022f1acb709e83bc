"""The config of a catalogue experiment: ``name``, ``env``, ``catalogue``, ``policies``, ``evaluation``.

A config with a ``catalogue`` section is a catalogue experiment (``stocklab run`` dispatches on it)::

    name: catalogue_small
    env: {unmet_demand: lost, lead_time: 1, costs: {holding: 1, shortage: 9}}   # defaults per SKU
    catalogue: {skus: [...], shared: {capacity: {limit: 80, measure: volume}}}
    policies:
      - {name: base_stock, kind: per_sku}                               # tuned per SKU
      - {name: capped, kind: per_sku, params: {base: capped_base_stock}}
      - {name: coordinator, kind: lagrangian}
      - {name: newsvendor, kind: newsvendor}
    evaluation: {episodes: 4, periods: 500, warmup: 50, seed: 1}

``env`` and ``catalogue`` are validated by :func:`stocklab.envs.catalogue.build.build_catalogue`;
``tuning`` sets the scenarios the per-SKU levels and the coordinator are fitted on (for a history
catalogue: each SKU's train-split demand distribution, never the replayed test period).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt, field_validator

from stocklab.envs.catalogue.config import CatalogueConfig
from stocklab.envs.core.errors import ConfigError
from stocklab.envs.core.kinds import PolicySpec, check_name
from stocklab.envs.core.schema import StrictModel, validate_section
from stocklab.experiments.config import check_unique_names

#: Catalogue policy kinds a config may name.
CATALOGUE_KINDS = ("per_sku", "lagrangian", "newsvendor", "shared_ppo")
#: Single-SKU policy kinds ``per_sku`` can apply to every SKU.
PER_SKU_BASES = ("base_stock", "capped_base_stock")


class CataloguePolicyConfig(PolicySpec):
    """One catalogue policy: ``kind`` (CATALOGUE_KINDS) and its ``params`` (``train`` / ``hyperparams``: shared_ppo's).

    ``per_sku``: ``{base: base_stock | capped_base_stock}`` tuned per SKU; ``lagrangian``: the
    coordinator (``{target: 0.99}``: share of periods within capacity its rationing aims at;
    ``{exact: 100000}``: each SKU whose DP has at most that many states orders its DP-optimal order
    under the fitted prices instead of a base-stock level);
    ``newsvendor``: each SKU's critical-fractile level of its demand distribution over L + 1 periods;
    ``shared_ppo``: one network for all SKUs, trained on some SKUs (``train.steps`` SKU-periods).
    """

    kind: Literal["per_sku", "lagrangian", "newsvendor", "shared_ppo"]


class TuningConfig(StrictModel):
    """Scenarios the per-SKU parameters are tuned on: ``episodes`` x ``periods`` after ``warmup``."""

    episodes: PositiveInt = 2
    periods: PositiveInt = 400
    warmup: NonNegativeInt = 50
    seed: NonNegativeInt = 0


class CatalogueEvaluation(StrictModel):
    """The evaluation protocol shared by every policy (paired: same SKUs, same demand per episode).

    ``periods``: measured periods per episode (default: the catalogue's replayed test window, else
    ``env.periods``); ``worst``: SKUs whose trajectories the report shows; ``bound``: compute the
    Lagrangian lower bound where it applies, within ``bound_seconds``.
    """

    episodes: PositiveInt = 4
    periods: PositiveInt | None = None
    warmup: NonNegativeInt = 0
    seed: NonNegativeInt = 1
    worst: Literal[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10] = 10
    bound: bool = True
    bound_seconds: PositiveFloat = 300.0
    tuning: TuningConfig = Field(default_factory=TuningConfig)


class CatalogueExperiment(StrictModel):
    """A catalogue experiment (module docstring)."""

    name: str = "catalogue"
    env: dict[str, Any] = Field(default_factory=dict)
    catalogue: CatalogueConfig
    policies: list[CataloguePolicyConfig] = Field(min_length=1)
    evaluation: CatalogueEvaluation = Field(default_factory=CatalogueEvaluation)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        return check_name(value, "the experiment name")

    @field_validator("policies")
    @classmethod
    def _unique(cls, policies: list[CataloguePolicyConfig]) -> list[CataloguePolicyConfig]:
        check_unique_names([p.name for p in policies])
        for i, p in enumerate(policies):
            base = p.params.get("base", "base_stock")
            if p.kind == "per_sku" and base not in PER_SKU_BASES:
                raise ValueError(
                    f"policies[{i}] ({p.name}).params.base: '{base}' is not one of {', '.join(PER_SKU_BASES)}"
                )
            if p.kind == "lagrangian":
                _check_lagrangian(i, p)
            if p.kind == "shared_ppo":
                from stocklab.agents.catalogue.kind import SHARED_PPO
                from stocklab.envs.core.errors import StocklabError

                try:
                    SHARED_PPO.check(None, p)
                except StocklabError as exc:
                    raise ValueError(f"policies[{i}] ({p.name}): {exc}") from None
        return policies


#: Parameters of the ``lagrangian`` kind.
LAGRANGIAN_PARAMS = ("target", "exact")


def _check_lagrangian(i: int, p: CataloguePolicyConfig) -> None:
    """ValueError naming the parameter of a ``lagrangian`` entry that is unknown or out of range."""
    where = f"policies[{i}] ({p.name}).params"
    for key in p.params:
        if key not in LAGRANGIAN_PARAMS:
            raise ValueError(f"{where}.{key}: unknown; the coordinator takes {', '.join(LAGRANGIAN_PARAMS)}")
    target = p.params.get("target", 0.99)
    if isinstance(target, bool) or not isinstance(target, int | float) or not 0.0 < target <= 1.0:
        raise ValueError(f"{where}.target: {target!r}; a share of periods in (0, 1]")
    exact = p.params.get("exact")
    if exact is not None and (
        isinstance(exact, bool) or not isinstance(exact, int) or not 100 <= exact <= 10**6
    ):
        raise ValueError(
            f"{where}.exact: {exact!r}; the largest per-SKU DP (states) solved for exact orders, an integer "
            "from 100 to 1000000 (leave it out for base-stock levels only)"
        )


def is_catalogue(data: dict[str, Any]) -> bool:
    """Whether a raw config is a catalogue experiment (it has a ``catalogue`` section)."""
    return "catalogue" in data


def parse_catalogue_experiment(data: dict[str, Any]) -> CatalogueExperiment:
    """Validate a raw catalogue config; ConfigError naming the key path, the value and what is allowed."""
    if not isinstance(data.get("catalogue"), dict):
        raise ConfigError(f"catalogue: must be a mapping, got {type(data.get('catalogue')).__name__}")
    return validate_section(CatalogueExperiment, data)


def base_dir_of(path: str | Path) -> Path:
    """The folder relative paths of a config file are read from."""
    return Path(path).resolve().parent
