"""The decision service's request and response models, built from an artefact's ObsSpec.

A state is an object with one member per ObsSpec field (a number, or a list of ``size`` numbers for a
vector field such as ``pipeline``), each bounded by the field's ``[low, high]``, plus two optional
members the monitoring loop joins on: ``sku`` (a name) and ``period`` (an integer). ``backlog`` and
``inventory_position`` may be left out (0, and on hand + on order - backlog). Unknown members are
refused, so a misspelt field is an error rather than a silently ignored input. The same models are the
validation and the OpenAPI schema that ``/docs`` shows and the contract tests generate requests from.
"""

from __future__ import annotations

from typing import Annotated, Any, NotRequired

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from stocklab.envs.core.errors import PolicyError
from stocklab.envs.core.obs import ObsSpec

#: Fields that are one number; every other field is a list of numbers (even of one).
SCALAR_FIELDS = frozenset({"on_hand", "backlog", "inventory_position"})
#: Fields a client may leave out (the runtime derives them).
OPTIONAL_FIELDS = frozenset({"backlog", "inventory_position"})
#: Longest SKU name accepted (characters).
MAX_SKU = 128
#: Largest period number accepted (periods).
MAX_PERIOD = 10**9
#: Where the OpenAPI document keeps its schemas.
REF = "#/components/schemas/"
#: Validation errors quoted in one 422 message; the rest are counted.
MAX_QUOTED_ERRORS = 5


def _number(low: float, high: float, description: str) -> Any:
    return Annotated[float, Field(strict=True, ge=low, le=high, allow_inf_nan=False, description=description)]


def _whole(value: Any) -> Any:
    """A float with no fractional part as an int: JSON Schema counts 12.0 as an integer."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def stock_highs(spec: ObsSpec) -> dict[str, float]:
    """Upper bounds (units) of on hand and of pipeline entries that keep a derived position in range.

    The inventory position (on hand + pipeline - backlog) has its own range; each of its terms gets
    an equal share of it. A bound every field satisfies on its own is then a bound the derived field satisfies too, so a
    state valid for the schema is never refused for its inventory position.
    """
    if not spec.has("inventory_position"):
        return {}
    ip = next(f for f in spec.fields if f.name == "inventory_position")
    terms = 1 + (spec.index("pipeline").stop - spec.index("pipeline").start if spec.has("pipeline") else 0)
    highs = {}
    for f in spec.fields:
        if f.name in ("on_hand", "pipeline"):
            highs[f.name] = min(f.high, float(int(ip.high / terms)))
    return highs


def state_model(spec: ObsSpec) -> Any:
    """The state of an env laid out by ``spec``, as a TypedDict (validated states stay plain dicts)."""
    fields: dict[str, Any] = {}
    highs = stock_highs(spec)
    for f in spec.fields:
        high = highs.get(f.name, f.high)
        description = f"{f.description} ({f.unit}, {f.low:g} to {high:g})"
        number = _number(f.low, high, description)
        vector = Annotated[list[number], Field(min_length=f.size, max_length=f.size, description=description)]
        kind: Any = number if f.name in SCALAR_FIELDS and f.size == 1 else vector
        fields[f.name] = NotRequired[kind] if f.name in OPTIONAL_FIELDS else kind
    fields["sku"] = NotRequired[
        Annotated[
            str, Field(strict=True, min_length=1, max_length=MAX_SKU, description="SKU the state is of")
        ]
    ]
    fields["period"] = NotRequired[
        Annotated[
            int,
            Field(strict=True, ge=0, le=MAX_PERIOD, description="period the decision is for"),
            BeforeValidator(_whole),  # after the Field, or the JSON schema loses the bounds
        ]
    ]
    state = TypedDict("State", fields)  # type: ignore[misc]
    state.__doc__ = "The state of one stocking point at decision time (after this period's arrivals)."
    return with_config(ConfigDict(extra="forbid"))(state)


class Models:
    """The request models of one policy's ``/decide`` and their validators."""

    def __init__(self, spec: ObsSpec, max_states: int, memory: bool = False) -> None:
        """``memory``: the batch request may carry a catalogue policy's memory (a JSON object)."""
        forbid = with_config(ConfigDict(extra="forbid"))
        self.state = state_model(spec)
        single = TypedDict("SingleDecisionRequest", {"state": self.state})  # type: ignore[misc]  # noqa: UP013
        single.__doc__ = "Decide the order for one state."
        members: dict[str, Any] = {
            "states": Annotated[list[self.state], Field(min_length=1, max_length=max_states)]  # type: ignore[name-defined]
        }
        if memory:
            members["memory"] = NotRequired[
                Annotated[
                    dict[str, Any] | None,
                    Field(description="The memory of the previous decision's answer (catalogue policies)"),
                ]
            ]
        batch = TypedDict("BatchDecisionRequest", members)  # type: ignore[misc]  # noqa: UP013
        batch.__doc__ = "Decide the orders of many states at once (e.g. one per SKU), in the given order."
        single, batch = forbid(single), forbid(batch)
        self.single = TypeAdapter(single)
        self.batch = TypeAdapter(batch)
        #: Both forms at once: one pass over the raw JSON on the happy path.
        self.either = TypeAdapter(single | batch)
        self._all = TypeAdapter(single | batch | Decision | Decisions | ErrorBody)

    def components(self) -> dict[str, Any]:
        """JSON schemas of the request and response models, for the OpenAPI ``components``."""
        schema = self._all.json_schema(ref_template=REF + "{model}")
        return dict(schema["$defs"])

    @staticmethod
    def request_schema() -> dict[str, Any]:
        """The OpenAPI ``requestBody`` of ``/decide`` (one state or a batch)."""
        one_of = [{"$ref": REF + "SingleDecisionRequest"}, {"$ref": REF + "BatchDecisionRequest"}]
        return {"required": True, "content": {"application/json": {"schema": {"oneOf": one_of}}}}


def observation_matrix(spec: ObsSpec, states: list[dict[str, Any]]) -> np.ndarray:
    """The observation vectors (one row per state, float32) of states validated by :func:`state_model`.

    The batch form of ``ObsSpec.vector`` (same layout; ``backlog`` 0 and ``inventory_position`` =
    on hand + on order - backlog where left out), one NumPy column at a time. Validation has already
    bounded every member; a derived ``inventory_position`` out of its range is a PolicyError naming
    the state.
    """
    n = len(states)
    out = np.empty((n, spec.size), dtype=np.float32)
    start = 0
    derived: np.ndarray | None = None
    for f in spec.fields:
        cols = slice(start, start + f.size)
        start += f.size
        if f.name == "inventory_position":
            derived = _inventory_position(spec, states)
            given = [s.get(f.name) for s in states]
            out[:, cols.start] = [d if g is None else g for g, d in zip(given, derived.tolist())]
            _check_derived(f, given, derived)
        elif f.name == "backlog":
            out[:, cols.start] = [s.get("backlog", 0.0) for s in states]
        elif f.name in SCALAR_FIELDS:
            out[:, cols.start] = [s[f.name] for s in states]
        else:
            out[:, cols] = np.asarray([s[f.name] for s in states], dtype=np.float64).reshape(n, f.size)
    return out


def _inventory_position(spec: ObsSpec, states: list[dict[str, Any]]) -> np.ndarray:
    """On hand + on order - backlog (units) of each state, in float64 like ``ObsSpec.vector``."""
    on_order = np.zeros(len(states))
    if spec.has("pipeline"):
        pipeline = np.asarray([s["pipeline"] for s in states], dtype=np.float64).reshape(len(states), -1)
        for k in range(pipeline.shape[1]):  # entry by entry: the same float64 sums as ObsSpec.vector
            on_order += pipeline[:, k]
    ip = np.asarray([s["on_hand"] for s in states], dtype=np.float64) + on_order
    if spec.has("backlog"):
        ip -= np.asarray([s.get("backlog", 0.0) for s in states], dtype=np.float64)
    return ip


def _check_derived(field: Any, given: list[Any], derived: np.ndarray) -> None:
    bad = np.flatnonzero((derived < field.low) | (derived > field.high))
    for i in bad:
        if given[i] is None:
            raise PolicyError(
                f"states[{i}].inventory_position: {derived[i]:g} (derived) outside [{field.low:g}, {field.high:g}]"
            )


class Decision(BaseModel):
    """The order for one state."""

    order: int = Field(ge=0, description="units to order now")
    request_id: str = Field(description="id of this request in the decision log and the access log")


class Decisions(BaseModel):
    """The orders of a batch, in the order of its states."""

    orders: list[int] = Field(description="units to order now, one per state")
    spent: float | None = Field(
        default=None, description="catalogue policies: money the orders cost (after the budget rule)"
    )
    cut_by_budget: int | None = Field(
        default=None, description="catalogue policies: units the budget rule cut from the policy's orders"
    )
    memory: dict[str, Any] | None = Field(
        default=None,
        description="catalogue policies that remember: send it back with the next period's states",
    )
    request_id: str = Field(description="id of this request in the decision log and the access log")


class ErrorBody(BaseModel):
    """Why a request was refused."""

    error: str = Field(description="what is wrong, naming the field, the value and what is allowed")
    fields: list[str] = Field(default_factory=list, description="locations of the offending members")


class Health(BaseModel):
    """Liveness of the service and the policy it serves."""

    status: str = Field(description='"ok"')
    policy: str = Field(description="the policy's name in its training run")
    policy_sha256: str = Field(description="the artefact's manifest checksum (its version)")


def location(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as a path: ``('states', 3, 'pipeline', 1)`` -> ``states[3].pipeline[1]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def describe(exc: ValidationError) -> tuple[str, list[str]]:
    """One message for a failed validation and the locations of every error.

    The message quotes the first errors, each naming the member, what is wrong and the value sent.
    """
    errors = exc.errors(include_url=False)
    where = [location(e["loc"]) for e in errors]
    parts = []
    for loc, e in zip(where, errors[:MAX_QUOTED_ERRORS]):
        got = "" if e["type"] == "missing" else f" (got {_short(e.get('input'))})"
        parts.append(f"{loc}: {e['msg']}{got}")
    if len(errors) > MAX_QUOTED_ERRORS:
        parts.append(f"and {len(errors) - MAX_QUOTED_ERRORS} more")
    return "; ".join(parts), where


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
