"""Pydantic plumbing shared by every config model: strict keys and readable error messages."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from stocklab.envs.core.errors import ConfigError, did_you_mean


class StrictModel(BaseModel):
    """A config section: unknown keys are errors that suggest the closest known key."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = {f.alias or name for name, f in cls.model_fields.items()}
            for key in data:
                if key not in known:
                    allowed = ", ".join(sorted(known))
                    raise ValueError(
                        f"unknown key '{key}'.{did_you_mean(str(key), known)} Allowed: {allowed}"
                    )
        return data


_PYDANTIC_LABELS = {
    "function-after",
    "function-before",
    "function-wrap",
    "int",
    "float",
    "str",
    "list",
    "dict",
}


def _clean_path(loc: tuple[Any, ...], data: Any) -> str:
    """Turn a pydantic error location into the user's key path, dropping union-tag labels."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(node, dict) and item in node:
            parts.append(str(item))
            node = node[item]
        elif isinstance(node, list) and isinstance(item, int) and item < len(node):
            parts.append(f"[{item}]")
            node = node[item]
        elif isinstance(node, dict) and item not in _PYDANTIC_LABELS and item not in node.values():
            parts.append(str(item))  # a missing key
            node = None
    return ".".join(parts).replace(".[", "[")


def format_validation_error(err: ValidationError, data: Any, prefix: str = "") -> str:
    """Return one line per problem: ``key.path: what is wrong (got VALUE)``."""
    lines = []
    for e in err.errors(include_url=False):
        path = _clean_path(tuple(e["loc"]), data)
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "missing":
            lines.append(f"{path}: required key is missing")
        elif e["type"] == "union_tag_invalid":
            lines.append(f"{path or 'value'}: {msg}")
        elif "unknown key" in msg:
            lines.append(f"{path or '(top level)'}: {msg}")
        else:
            lines.append(f"{path or '(top level)'}: {msg} (got {e.get('input')!r})")
    return "\n".join(dict.fromkeys(lines))


def validate_section(model: type[BaseModel], data: Any, prefix: str = "", context: Any = None) -> Any:
    """Validate ``data`` against ``model``; raise :class:`ConfigError` with readable lines on failure."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, data, prefix)) from None
