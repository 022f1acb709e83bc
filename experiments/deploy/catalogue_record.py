"""``catalogue.json`` of a catalogue artefact: the SKUs a catalogue policy decides for, as plain JSON.

What a deployed catalogue policy needs to decide as it did in simulation, and nothing of the sales
history it was fitted on beyond that: the SKU ids in catalogue order, each SKU's env config as the
policy was built for it (the run's tuning configs: for a history catalogue, the SKU's train-split
demand distribution, never the test period), the per-SKU attributes the shared limits use
(``volume``: units of capacity per unit of stock, ``unit_cost``: money per unit ordered,
``priority``), ``demand_scale`` (units per period) and the demand statistics a shared network reads
(``demand_cv``, ``zero_share``), and the shared limits section (capacity, budget and their rules).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stocklab.envs.catalogue.catalogue import Catalogue
from stocklab.envs.catalogue.config import SharedLimits
from stocklab.envs.config import parse_env_config
from stocklab.envs.core.errors import PolicyError, StocklabError
from stocklab.envs.core.schema import validate_section

#: Per-SKU number arrays of the record, with the values each may take.
ARRAYS = {"volume": "positive", "unit_cost": "positive", "priority": "any", "demand_scale": "positive"}
_RULES = {
    "positive": (lambda a: a > 0, " > 0"),
    "any": (lambda a: a == a, ""),
    "nonnegative": (lambda a: a >= 0, " >= 0"),
}
#: Demand statistics kept (a shared network's static features).
STATS = ("demand_cv", "zero_share")
#: Largest catalogue an artefact may hold (SKUs).
MAX_SKUS = 1_000_000


def catalogue_record(catalogue: Catalogue) -> dict[str, Any]:
    """The JSON record of ``catalogue`` (module docstring); PolicyError for a config fitted on a local file."""
    from stocklab.experiments.deploy.export import portable_env_config

    configs = []
    for sku, config in zip(catalogue.skus, catalogue.configs, strict=True):
        try:
            configs.append(portable_env_config(config)[0])
        except PolicyError as exc:
            raise PolicyError(f"sku {sku!r}: {exc}") from None
    shared = catalogue.shared
    return {
        "skus": list(catalogue.skus),
        "configs": configs,
        **{name: np.asarray(getattr(catalogue, name), dtype=float).tolist() for name in ARRAYS},
        "stats": {
            k: np.asarray(catalogue.stats[k], dtype=float).tolist() for k in STATS if k in catalogue.stats
        },
        "shared": None if shared is None else shared.model_dump(mode="json"),
    }


def catalogue_from_record(record: Any, where: str) -> Catalogue:
    """The :class:`Catalogue` of a record; PolicyError naming the member (and SKU) that does not fit."""
    if not isinstance(record, dict) or set(record) != {"skus", "configs", "stats", "shared", *ARRAYS}:
        raise PolicyError(f"{where}: expected the members skus, configs, stats, shared, {', '.join(ARRAYS)}")
    skus = record["skus"]
    if (
        not isinstance(skus, list)
        or not 0 < len(skus) <= MAX_SKUS
        or not all(isinstance(s, str) for s in skus)
    ):
        raise PolicyError(f"{where}: skus must list 1 to {MAX_SKUS:,} SKU ids (strings)")
    n = len(skus)
    if len(set(skus)) != n:
        raise PolicyError(f"{where}: skus repeats an id")
    arrays = {name: _array(record[name], n, rule, f"{where}: {name}") for name, rule in ARRAYS.items()}
    stats = record["stats"]
    if not isinstance(stats, dict) or not set(stats) <= set(STATS):
        raise PolicyError(f"{where}: stats may hold {', '.join(STATS)}")
    stats = {k: _array(v, n, "nonnegative", f"{where}: stats.{k}") for k, v in stats.items()}
    configs = record["configs"]
    if not isinstance(configs, list) or len(configs) != n:
        raise PolicyError(f"{where}: configs must hold one env config per SKU ({n})")
    parsed = []
    for sku, data in zip(skus, configs):
        try:
            parsed.append(parse_env_config(data))
        except StocklabError as exc:
            raise PolicyError(f"{where}: configs of sku {sku!r}: {exc}") from None
    try:
        shared = (
            None if record["shared"] is None else validate_section(SharedLimits, record["shared"], "shared")
        )
    except StocklabError as exc:
        raise PolicyError(f"{where}: {exc}") from None
    return Catalogue(
        skus=list(skus), configs=parsed, volume=arrays["volume"], unit_cost=arrays["unit_cost"],
        priority=arrays["priority"], shared=shared, segments={}, demand_scale=arrays["demand_scale"],
        stats=stats, source="artefact",
    )  # fmt: skip


def _array(value: Any, n: int, rule: str, where: str) -> np.ndarray:
    """``value`` as (n,) floats, each finite and allowed by ``rule`` (PolicyError otherwise)."""
    test, text = _RULES[rule]
    ok = isinstance(value, list) and len(value) == n
    ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    arr = np.asarray(value if ok else [], dtype=float)
    if not ok or not np.isfinite(arr).all() or not test(arr).all():
        raise PolicyError(f"{where}: expected {n} finite numbers{text}")
    return arr


__all__ = ["catalogue_from_record", "catalogue_record"]
