"""The ``catalogue`` section of a config: where the SKUs come from, which ones, their demand and what they share.

```yaml
env:                        # the single-SKU env section = defaults for every SKU
  unmet_demand: lost
  lead_time: 2
  costs: {holding: 0.2, shortage: 1.0}
catalogue:
  history: m3               # a named sales history (m3, demo) or a long-format file: date, sku, quantity
  # skus: [{sku: A, demand: {dist: poisson, mean: 4}, lead_time: 1, volume: 2}, ...]   (instead of history)
  attributes: skus.csv      # optional per-SKU table (columns: ATTRIBUTE_COLUMNS)
  select: all               # all | {skus: [..]} | {segment: {method: syntetos_boylan, label: smooth}}
                            #   | {sample: 100, seed: 1}
  splits: {test: 1998-07-01}  # the test period starts here (default: the history's own test split)
  demand: replay            # replay | forecast_fed (forecaster: ets)
  cover: {max_order: 6, on_hand: 2}  # per-SKU limits and start stock in periods of mean demand
  shared:
    capacity: {limit: 20000, measure: units, rule: pro_rata}   # rule: pro_rata | priority | overflow
    budget: {limit: 5000, rule: pro_rata}                      # money per period on c * q
```

Per SKU, a value comes from (the first that gives it): the SKU's inline entry, the attributes table,
``cover`` (limits scaled by the SKU's mean demand), the ``env`` section. The rules of the shared
limits are those of :mod:`stocklab.envs.engines.shared`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, field_validator, model_validator

from stocklab.envs.config import MAX_RATE, MAX_UNITS, Initial, Money
from stocklab.envs.core.schema import StrictModel, validate_section
from stocklab.envs.demand import DemandSpec
from stocklab.envs.leadtime import LeadTimeSpec, coerce_lead_time
from stocklab.envs.sales.clean import CleaningOptions

#: Largest shared limit a config may give (units, volume or money per period).
MAX_LIMIT = 1e12
#: Columns an attributes table may hold besides ``sku`` (module docstring of ``attributes``).
ATTRIBUTE_COLUMNS = (
    "lead_time", "unit_cost", "holding", "shortage", "fixed_order", "unit_order", "volume", "max_order",
    "priority", "on_hand", "capacity",
)  # fmt: skip
Limit = Annotated[float, Field(gt=0.0, le=MAX_LIMIT, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0.0, le=MAX_RATE, allow_inf_nan=False)]


class CapacityLimit(StrictModel):
    """A warehouse shared by the SKUs: at most ``limit`` units (or volume) on hand after arrivals.

    ``measure: volume`` counts each unit of SKU i as its ``volume``. ``rule`` says what happens to the
    arrivals that do not fit: ``pro_rata`` and ``priority`` refuse them, ``overflow`` keeps them and
    charges ``overflow_cost`` (money per unit of volume above the limit at the end of a period).
    """

    limit: Limit
    measure: Literal["units", "volume"] = "units"
    rule: Literal["pro_rata", "priority", "overflow"] = "pro_rata"
    overflow_cost: Money = 0.0

    @model_validator(mode="after")
    def _overflow_only(self) -> CapacityLimit:
        if self.overflow_cost > 0 and self.rule != "overflow":
            raise ValueError(
                f"overflow_cost (={self.overflow_cost}) applies to rule 'overflow' only, not '{self.rule}'"
            )
        return self


class BudgetLimit(StrictModel):
    """A purchasing budget: at most ``limit`` money per period on the orders' unit costs (sum c q)."""

    limit: Limit
    rule: Literal["pro_rata", "priority"] = "pro_rata"


class SharedLimits(StrictModel):
    """What couples the SKUs of a catalogue (each optional): a warehouse capacity and a budget."""

    capacity: CapacityLimit | None = None
    budget: BudgetLimit | None = None


class CostOverrides(StrictModel):
    """Per-SKU cost rates (money per unit); a key left out keeps the default."""

    holding: Money | None = None
    shortage: Money | None = None
    fixed_order: Money | None = None
    unit_order: Money | None = None


class SkuSpec(StrictModel):
    """One inline SKU: its id and any per-SKU values (others from the attributes table or ``env``).

    ``volume``: units of capacity per unit of stock; ``unit_cost``: money per unit ordered (the
    budget's c); ``priority``: higher is served first by ``priority`` rules.
    """

    sku: Annotated[str, Field(min_length=1, max_length=200)]
    demand: DemandSpec | None = None
    lead_time: LeadTimeSpec | None = None
    costs: CostOverrides = Field(default_factory=CostOverrides)
    volume: Positive | None = None
    unit_cost: Positive | None = None
    priority: Annotated[float, Field(allow_inf_nan=False)] | None = None
    max_order: Annotated[int, Field(ge=1, le=MAX_UNITS)] | None = None
    capacity: Annotated[int, Field(ge=1, le=MAX_UNITS)] | None = None
    initial: Initial | None = None

    @field_validator("lead_time", mode="before")
    @classmethod
    def _lead_time_int(cls, value: Any) -> Any:
        return coerce_lead_time(value)


class SegmentSelect(StrictModel):
    """SKUs of one segment of the train split: a Syntetos-Boylan class or a K-means cluster.

    ``label``: a class name (smooth, erratic, intermittent, lumpy, no_demand) or a cluster number
    (0 .. k - 1, by increasing mean demand), or a list of them; ``k`` and ``seed`` are K-means'.
    """

    method: Literal["syntetos_boylan", "kmeans"] = "syntetos_boylan"
    label: str | int | list[str | int]
    k: Annotated[int, Field(ge=1, le=100)] = 4
    seed: int = 0

    @property
    def labels(self) -> list[str]:
        """The wanted labels as text (cluster numbers too)."""
        raw = self.label if isinstance(self.label, list) else [self.label]
        return [str(x) for x in raw]


class SkuSelection(StrictModel):
    """Which SKUs of the source form the catalogue: all (no key), a list, a segment or a random sample."""

    skus: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)] | None = None
    segment: SegmentSelect | None = None
    sample: PositiveInt | None = None
    seed: int | None = None

    @model_validator(mode="after")
    def _one(self) -> SkuSelection:
        given = [k for k in ("skus", "segment", "sample") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of skus, segment or sample, not {' and '.join(given)}")
        if self.seed is not None and self.sample is None:
            raise ValueError("seed belongs to {sample: n, seed: s}")
        return self

    @property
    def kind(self) -> str:
        """``all``, ``skus``, ``segment`` or ``sample``."""
        for key in ("skus", "segment", "sample"):
            if getattr(self, key) is not None:
                return key
        return "all"


class CatalogueSplits(StrictModel):
    """Dates of the history's splits: the test period starts at ``test`` (train: every period before)."""

    test: dt.date | None = None
    validation: dt.date | None = None

    @model_validator(mode="after")
    def _order(self) -> CatalogueSplits:
        if self.test and self.validation and self.validation > self.test:
            raise ValueError(f"validation ({self.validation}) must not be after test ({self.test})")
        return self


class Cover(StrictModel):
    """Per-SKU limits and start stock in periods of the SKU's mean demand (its ``demand_scale``).

    ``max_order``: largest order = ceil(max_order x scale) units; ``max_level``: largest order-up-to
    action = ceil(max_level x scale); ``on_hand``: start stock = round(on_hand x scale) units.
    """

    max_order: PositiveFloat | None = None
    max_level: PositiveFloat | None = None
    on_hand: NonNegativeFloat | None = None


class CatalogueConfig(StrictModel):
    """The ``catalogue`` section (module docstring)."""

    history: Annotated[str, Field(min_length=1)] | None = None
    skus: Annotated[list[SkuSpec], Field(min_length=1, max_length=1_000_000)] | None = None
    attributes: Annotated[str, Field(min_length=1)] | None = None
    select: SkuSelection = Field(default_factory=SkuSelection)
    splits: CatalogueSplits | None = None
    demand: Literal["replay", "forecast_fed"] = "replay"
    forecaster: str = "ets"
    forecaster_params: dict[str, Any] = Field(default_factory=dict)
    noise: Literal["residual", "predictive"] = "residual"
    scale: PositiveFloat = 1.0
    cleaning: CleaningOptions = Field(default_factory=CleaningOptions)
    cover: Cover | None = None
    segments: list[Literal["syntetos_boylan", "kmeans"]] = Field(
        default_factory=lambda: ["syntetos_boylan"]  # type: ignore[arg-type]
    )
    shared: SharedLimits | None = None

    @field_validator("select", mode="before")
    @classmethod
    def _all(cls, value: Any) -> Any:
        if value == "all" or value is None:
            return {}
        if isinstance(value, str):
            raise ValueError(
                f"'{value}' is not a selection: use all, {{skus: [..]}}, {{segment: {{method: .., label: ..}}}} "
                "or {sample: n, seed: s}"
            )
        return value

    @model_validator(mode="after")
    def _source(self) -> CatalogueConfig:
        if (self.history is None) == (self.skus is None):
            raise ValueError("give exactly one of 'history' (a sales history) or 'skus' (inline SKUs)")
        if self.skus is not None:
            for key, default in (("splits", None), ("demand", "replay")):
                if getattr(self, key) != default:
                    raise ValueError(f"'{key}' applies to a 'history' catalogue, not to inline 'skus'")
            if self.select.segment is not None:
                raise ValueError("select.segment needs a 'history' (segments are computed on sales)")
        return self


def parse_catalogue_config(data: dict[str, Any] | CatalogueConfig) -> CatalogueConfig:
    """Validate a ``catalogue`` section; ConfigError naming the key path, the value and what is allowed."""
    if isinstance(data, CatalogueConfig):
        return data
    return validate_section(CatalogueConfig, data, prefix="catalogue")
