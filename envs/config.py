"""The ``env`` section of a config: every parameter of one stocking point, validated.

The same dict is the keyword arguments of :class:`~stocklab.envs.InventoryEnv`. Units: stock in whole
units, time in periods, costs in money per unit (per period for holding).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, PositiveInt, field_validator, model_validator

from stocklab.envs.core.schema import StrictModel, validate_section
from stocklab.envs.demand import DemandSpec
from stocklab.envs.leadtime import LeadTimeSpec, coerce_lead_time

#: Largest cost rate a config may give (money per unit): far beyond any real price, and small enough
#: that a long run's total cost stays a finite float.
MAX_RATE = 1e9
#: Largest stock quantity a config may give (units per order, stock on hand, capacity).
MAX_UNITS = 1_000_000

Money = Annotated[float, Field(ge=0.0, le=MAX_RATE, allow_inf_nan=False)]
Units = Annotated[int, Field(ge=0, le=MAX_UNITS)]


def _raw(section: dict[str, Any]) -> Any:
    """A default given as config data, which pydantic validates (``validate_default``) like a user's."""
    return section


class Costs(StrictModel):
    """Cost rates of one stocking point (money per unit, per period where it accrues).

    Holding h per unit on hand per period, shortage p per unit lost or backordered per period, fixed
    cost K per order placed, unit cost c per unit ordered.
    """

    holding: Money = 1.0
    shortage: Money = 9.0
    fixed_order: Money = 0.0
    unit_order: Money = 0.0


class Initial(StrictModel):
    """Starting state of the stocking point (units).

    Units on hand, units backordered, and ``pipeline[k]`` units arriving at the start of period k + 1.
    """

    on_hand: Units = 0
    backlog: Units = 0
    pipeline: list[Units] = Field(default_factory=list, max_length=10_000)


class ActionConfig(StrictModel):
    """How an action maps to an order quantity (units).

    ``quantity``: action a orders a units. ``order_up_to``: action a orders
    min(max_order, max(0, a - inventory position)); ``max_level`` is the largest a.
    """

    mode: Literal["quantity", "order_up_to"] = "quantity"
    max_level: Annotated[int, Field(ge=1, le=MAX_UNITS)] | None = None


class ObservationConfig(StrictModel):
    """Optional observation fields beyond on hand, backlog and pipeline.

    The last ``recent_demand`` period demands; with ``information`` other than ``none``, the mean and standard
    deviation of the demand of this period and the next ``forecast_horizon`` - 1 ones: a forecaster's
    (``forecast``, needs ``demand.dist: forecast_fed``) or the demand model's true ones (``oracle_mean``).
    Comparing policies across the three settings separates what better information is worth from what a better
    policy is worth.
    """

    recent_demand: Annotated[int, Field(ge=0, le=365)] = 0
    information: Literal["none", "forecast", "oracle_mean"] = "none"
    forecast_horizon: Annotated[int, Field(ge=1, le=365)] = 6


class EnvConfig(StrictModel):
    """One stocking point under periodic review (see ``InventoryEnv`` for the timing of a period)."""

    unmet_demand: Literal["lost", "backorder"] = "lost"
    lead_time: LeadTimeSpec = Field(default_factory=lambda: _raw({"dist": "fixed", "value": 2}))
    demand: DemandSpec = Field(default_factory=lambda: _raw({"dist": "poisson", "mean": 5}))
    costs: Costs = Field(default_factory=Costs)
    max_order: Annotated[int, Field(ge=1, le=MAX_UNITS)] = 30
    capacity: Annotated[int, Field(ge=1, le=MAX_UNITS)] | None = None
    initial: Initial = Field(default_factory=Initial)
    action: ActionConfig = Field(default_factory=ActionConfig)
    observation: ObservationConfig = Field(default_factory=ObservationConfig)
    holding_accrual: Literal["end_of_period", "time_weighted"] = "end_of_period"
    periods: PositiveInt = 1000
    simulation: Literal["auto", "per_period", "per_customer"] = "auto"
    engine: Literal["auto", "simpy", "batched"] = "auto"

    @field_validator("lead_time", mode="before")
    @classmethod
    def _lead_time_int(cls, value: Any) -> Any:
        return coerce_lead_time(value)

    @model_validator(mode="after")
    def _check(self) -> EnvConfig:
        if self.unmet_demand == "lost" and self.initial.backlog > 0:
            raise ValueError(
                f"initial.backlog (={self.initial.backlog}) must be 0 when unmet_demand is 'lost'"
            )
        if self.observation.information == "forecast" and not self.demand.provides_forecast:
            raise ValueError(
                f"observation.information 'forecast' needs a demand model with a forecaster "
                f"(demand.dist: forecast_fed), not '{self.demand.dist}'; use 'oracle_mean' for the true mean"
            )
        if self.action.mode == "order_up_to" and self.action.max_level is None:
            raise ValueError("action.max_level is required when action.mode is 'order_up_to'")
        refusal = self.batched_refusal()
        if self.engine == "batched" and refusal is not None:
            raise ValueError(
                f"engine 'batched' simulates whole periods only, and {refusal[0]}: {refusal[1]}; "
                "use engine 'simpy', or 'auto' which picks it"
            )
        if self.simulation == "per_period" and not self.per_period_exact:
            raise ValueError(
                "simulation 'per_period' needs whole-period lead times and end_of_period holding; "
                "use 'per_customer' or 'auto'"
            )
        return self

    @property
    def per_period_exact(self) -> bool:
        """True when nothing inside a period can change its outcome.

        Then one demand event per period gives the same result as one event per customer.
        """
        return self.lead_time.integer and self.holding_accrual == "end_of_period"

    def batched_refusal(self) -> tuple[str, str] | None:
        """Why the batched engine is not exact for this config, as (key path, reason), or None.

        Its periods are whole: every arrival is on a period boundary and demand is one total per
        period, so what happens inside a period (which only the SimPy engine simulates) must not
        change the outcome.
        """
        if not self.lead_time.integer:
            return "env.lead_time", f"lead time '{self.lead_time.dist}' gives fractional lead times"
        if self.holding_accrual != "end_of_period":
            return "env.holding_accrual", "'time_weighted' integrates on-hand stock within the period"
        if self.simulation == "per_customer":
            return "env.simulation", "'per_customer' asks for one event per customer"
        return None

    @property
    def batched_exact(self) -> bool:
        """True when the batched engine gives exactly the SimPy engine's flows (see batched_refusal)."""
        return self.batched_refusal() is None

    @property
    def resolved_engine(self) -> Literal["simpy", "batched"]:
        """The engine that simulates this config: ``engine``, with ``auto`` -> batched when exact."""
        if self.engine == "auto":
            return "batched" if self.batched_exact else "simpy"
        return self.engine

    @property
    def per_customer(self) -> bool:
        """Whether the simulator schedules one event per customer."""
        return self.simulation == "per_customer" or (self.simulation == "auto" and not self.per_period_exact)

    @property
    def pipeline_length(self) -> int:
        """Number of pipeline slots in the observation.

        Slot k holds units due in k + 1 periods (slot ceil(L_max) - 2 is the last an order can occupy;
        later arrivals fold into the last slot).
        """
        return max(math.ceil(self.lead_time.upper) - 1, len(self.initial.pipeline), 0)


def parse_env_config(data: dict[str, Any] | EnvConfig | None, base_dir: str | None = None) -> EnvConfig:
    """Validate an ``env`` section (a dict, e.g. from YAML or keyword arguments) into an EnvConfig.

    Raises ConfigError naming the key path, the value and what is allowed.
    """
    if isinstance(data, EnvConfig):
        return data
    return validate_section(EnvConfig, data or {}, prefix="env", context={"base_dir": base_dir})
