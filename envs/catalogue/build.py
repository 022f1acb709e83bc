"""Build a :class:`Catalogue` from the ``catalogue`` and ``env`` sections of a config.

:func:`build_catalogue` reads the source (a sales history or inline SKUs), selects the SKUs, reads the
attributes table, and makes one :class:`~stocklab.envs.config.EnvConfig` per SKU: the ``env``
section's values, overridden per SKU by (in increasing precedence) ``cover``, the attributes table and
the SKU's inline entry. :func:`load_catalogue` does it for a YAML file. For the 474 M3 series with
``demand: replay`` a build takes about a second after the history is loaded (a few seconds the first
time in a process); ``forecast_fed`` fits one forecaster per SKU (cached in the process).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from stocklab.envs.catalogue.attributes import read_attributes
from stocklab.envs.catalogue.catalogue import Catalogue, sku_stats
from stocklab.envs.catalogue.config import CatalogueConfig, SkuSpec, parse_catalogue_config
from stocklab.envs.catalogue.sources import (
    HistoryData,
    forecast_models,
    load_source,
    replay_models,
    resolve,
    sb_labels,
    select,
    train_arrays,
)
from stocklab.envs.config import MAX_UNITS, ActionConfig, EnvConfig, Initial, parse_env_config
from stocklab.envs.core.errors import ConfigError
from stocklab.envs.core.schema import validate_section
from stocklab.envs.leadtime import FixedLeadTime

__all__ = ["Catalogue", "build_catalogue", "load_catalogue"]


def build_catalogue(
    section: dict[str, Any] | CatalogueConfig,
    env_defaults: dict[str, Any] | EnvConfig | None = None,
    base_dir: str | Path | None = None,
) -> Catalogue:
    """The catalogue a ``catalogue`` section describes, with ``env_defaults`` (the ``env`` section).

    Relative paths (history file, attributes table, demand files) are read from ``base_dir`` (the
    config file's folder). Raises ConfigError / DataError (exit code 2) naming the key, the file, the
    row, the column, the value and the SKU.
    """
    cfg = parse_catalogue_config(section)
    base = parse_env_config(env_defaults, None if base_dir is None else str(base_dir))
    if cfg.history is not None:
        return _from_history(cfg, base, base_dir)
    return _from_inline(cfg, base, base_dir)


def load_catalogue(path: str | Path) -> Catalogue:
    """Build the catalogue of a YAML config file (its ``env`` and ``catalogue`` sections)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("catalogue"), dict):
        raise ConfigError(f"{path}: no 'catalogue' section (a mapping) in the config")
    return build_catalogue(data["catalogue"], data.get("env") or {}, path.parent)


# ------------------------------------------------------------------------------------------ sources
def _from_history(cfg: CatalogueConfig, base: EnvConfig, base_dir: str | Path | None) -> Catalogue:
    data = load_source(cfg, base_dir)
    available = data.history.skus()
    needs_all = cfg.select.kind == "segment"
    data.scale = cfg.scale
    train_arrays(data, available if needs_all else [], cfg.scale)

    def labels(method: str, k: int, seed: int) -> dict[str, Any]:
        return _labels(data, method, k, seed)

    skus = select(available, cfg.select, labels)
    train_arrays(data, [s for s in skus if s not in data.train], cfg.scale)
    train = [data.train[s] for s in skus]
    scale, stats = sku_stats(train)
    demands: list[Any]
    if cfg.demand == "replay":
        demands, periods = replay_models(data, skus, cfg.scale)
    else:
        demands, periods = forecast_models(data, skus, cfg), None
    seg = cfg.select.segment
    k, seed = (seg.k, seg.seed) if seg is not None and seg.method == "kmeans" else (4, 0)
    k = min(k, len(data.train))
    segments = {m: np.asarray([_labels(data, m, k, seed)[s] for s in skus]) for m in cfg.segments}
    catalogue = _assemble(cfg, base, base_dir, skus, demands, scale, periods)
    return catalogue.with_data(
        segments=segments, stats=stats, source=data.path, train=train, test_start=str(data.test.date()),
        notes=data.notes,
    )  # fmt: skip


#: Segment labels of loaded histories, by (history id, scale, method, k, seed, SKUs): K-means needs an
#: STL decomposition per SKU (seconds for hundreds of SKUs), so rebuilding a catalogue reuses them.
_LABELS: dict[tuple[Any, ...], tuple[Any, dict[str, Any]]] = {}


def _labels(data: HistoryData, method: str, k: int, seed: int) -> dict[str, Any]:
    """Segment labels of the SKUs whose train periods are loaded (cached, see _LABELS)."""
    key = (id(data.history), data.scale, method, k, seed, tuple(data.train))
    hit = _LABELS.get(key)
    if hit is not None and hit[0] is data.history:
        return hit[1]
    if method == "syntetos_boylan":
        labels = sb_labels(data.train)
    else:
        from stocklab.envs.catalogue.segments import segment_series

        table = segment_series(data.train, data.history.season, k, seed)
        labels = dict(zip(table["sku"], table["cluster"].astype(int).tolist()))
    if len(_LABELS) > 64:
        _LABELS.clear()
    _LABELS[key] = (data.history, labels)
    return labels


def _from_inline(cfg: CatalogueConfig, base: EnvConfig, base_dir: str | Path | None) -> Catalogue:
    assert cfg.skus is not None
    ids = [s.sku for s in cfg.skus]
    seen: dict[str, int] = {}
    for k, sku in enumerate(ids):
        if sku in seen:
            raise ConfigError(f"catalogue.skus[{k}].sku: duplicate sku '{sku}' (first at skus[{seen[sku]}])")
        seen[sku] = k
    skus = select(ids, cfg.select)
    specs = [cfg.skus[seen[s]] for s in skus]
    demands = [spec.demand or base.demand for spec in specs]
    scale, stats, sb = _model_stats(demands)
    catalogue = _assemble(cfg, base, base_dir, skus, demands, scale, None, specs)
    return catalogue.with_data(segments={"syntetos_boylan": sb}, stats=stats, source="inline")


def _model_stats(demands: list[Any]) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Mean, CV, zero share and Syntetos-Boylan class of each demand model (long run, from its pmf)."""
    from stocklab.envs.demand import pmf_moments
    from stocklab.envs.sales.segment import demand_class, pmf_intermittency

    means, cvs, zeros, classes = [], [], [], []
    for model in demands:
        pmf = model.pmf() if model.stationary else None
        if pmf is not None:
            mean, var = pmf_moments(pmf)
            mean = float(model.mean)  # exact, where the pmf's mean misses the truncated tail
            zero, sb = float(pmf[0]), demand_class(*pmf_intermittency(pmf))
        else:
            m, s = model.expected(0, 52)
            mean, var, zero, sb = float(np.mean(m)), float(np.mean(s**2) + np.var(m)), 0.0, "unknown"
        means.append(mean)
        cvs.append(math.sqrt(var) / mean if mean > 0 else 0.0)
        zeros.append(zero)
        classes.append(sb)
    scale = np.asarray([m if m > 0 else 1.0 for m in means])
    return scale, {"demand_cv": np.asarray(cvs), "zero_share": np.asarray(zeros)}, np.asarray(classes)


# ----------------------------------------------------------------------------------- per-SKU values
def _assemble(
    cfg: CatalogueConfig,
    base: EnvConfig,
    base_dir: str | Path | None,
    skus: list[str],
    demands: list[Any],
    scale: np.ndarray,
    periods: int | None,
    specs: list[SkuSpec] | None = None,
) -> Catalogue:
    """One EnvConfig per SKU and the catalogue's per-SKU arrays."""
    if cfg.attributes is not None:
        table = read_attributes(Path(resolve(cfg.attributes, base_dir)), cfg.attributes)
        attrs = table.for_skus(skus)
    else:
        attrs = [{} for _ in skus]
    fields = {name: getattr(base, name) for name in EnvConfig.model_fields}
    if periods is not None:
        fields["periods"] = periods
    configs, volume, unit_cost, priority = [], [], [], []
    for i, sku in enumerate(skus):
        spec = specs[i] if specs is not None else None
        values = _sku_values(cfg, base, attrs[i], spec, float(scale[i]))
        config = validate_section(
            EnvConfig, {**fields, **values, "demand": demands[i]}, prefix=f"catalogue sku '{sku}'"
        )
        configs.append(config)
        volume.append(_pick(spec, "volume", attrs[i], 1.0))
        c = config.costs.unit_order
        unit_cost.append(_pick(spec, "unit_cost", attrs[i], c if c > 0 else 1.0))
        priority.append(_pick(spec, "priority", attrs[i], 0.0))
    shared = cfg.shared if cfg.shared is not None and (cfg.shared.capacity or cfg.shared.budget) else None
    measure_units = shared is None or shared.capacity is None or shared.capacity.measure == "units"
    return Catalogue(
        skus=list(skus), configs=configs,
        volume=np.ones(len(skus)) if measure_units else np.asarray(volume, dtype=float),
        unit_cost=np.asarray(unit_cost, dtype=float), priority=np.asarray(priority, dtype=float),
        shared=shared, segments={}, demand_scale=np.asarray(scale, dtype=float), periods=periods,
    )  # fmt: skip


def _pick(spec: SkuSpec | None, key: str, attrs: dict[str, float], default: float) -> float:
    value = None if spec is None else getattr(spec, key)
    if value is None:
        value = attrs.get(key)
    return float(default if value is None else value)


def _sku_values(
    cfg: CatalogueConfig, base: EnvConfig, attrs: dict[str, float], spec: SkuSpec | None, scale: float
) -> dict[str, Any]:
    """The EnvConfig fields of one SKU that differ from the ``env`` section."""
    out: dict[str, Any] = {}
    cover = cfg.cover

    def covered(periods: float | None) -> int | None:
        return None if periods is None else min(MAX_UNITS, max(1, math.ceil(periods * scale)))

    costs: dict[str, Any] = {
        k: attrs[k] for k in ("holding", "shortage", "fixed_order", "unit_order") if k in attrs
    }
    if spec is not None:
        costs.update({k: v for k, v in spec.costs.model_dump().items() if v is not None})
    if costs:
        out["costs"] = base.costs.model_copy(update=costs)
    lead = spec.lead_time if spec is not None and spec.lead_time is not None else None
    if lead is None and "lead_time" in attrs:
        lead = FixedLeadTime(value=int(attrs["lead_time"]))
    if lead is not None:
        out["lead_time"] = lead
    max_order = _first(
        spec and spec.max_order, attrs.get("max_order"), covered(None if cover is None else cover.max_order)
    )
    if max_order is not None:
        out["max_order"] = int(max_order)
    capacity = _first(spec and spec.capacity, attrs.get("capacity"))
    if capacity is not None:
        out["capacity"] = int(capacity)
    level = covered(None if cover is None else cover.max_level)
    if level is not None and base.action.mode == "order_up_to":
        out["action"] = ActionConfig(mode="order_up_to", max_level=level)
    start = None if cover is None or cover.on_hand is None else round(cover.on_hand * scale)
    on_hand = _first(attrs.get("on_hand"), start)
    if spec is not None and spec.initial is not None:
        out["initial"] = spec.initial
    elif on_hand is not None:
        out["initial"] = Initial(
            on_hand=min(int(on_hand), MAX_UNITS), backlog=base.initial.backlog, pipeline=base.initial.pipeline
        )
    return out


def _first(*values: Any) -> Any:
    """The first value that is not None (or None)."""
    for v in values:
        if v is not None:
            return v
    return None
