"""Where a catalogue's SKUs come from: a sales history (split, selected, turned into demand) or inline SKUs.

For a history catalogue, per SKU (quantities multiplied by ``scale`` and rounded to whole units):

* **train**: the periods before the test date: what a policy deployed at that date could know. The
  SKU's ``demand_scale`` (its mean), its demand statistics and its segment come from it.
* **test**: the periods from the test date on, on one calendar grid shared by all SKUs (from the
  test date to the last date of any selected SKU): ``demand: replay`` replays it as it happened. A
  SKU launched after the test date, or discontinued before the end, has no sales on the grid's other
  dates and replays zeros there (the build's notes say which).
* ``demand: forecast_fed``: a forecaster fitted on the train periods (once per SKU and series; fits
  are cached in the process) feeds scenarios of the test period (see ``ForecastFedDemand``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stocklab.envs.catalogue.config import CatalogueConfig, SkuSelection
from stocklab.envs.core.errors import ConfigError, DataError, did_you_mean
from stocklab.envs.demand import ForecastFedDemand, ReplayDemand, SplitDates
from stocklab.envs.sales.history import NAMED_SOURCES, SalesHistory, load_history
from stocklab.envs.sales.segment import CLASSES, classify


@dataclass
class HistoryData:
    """A loaded history and the catalogue's view of it: test date, per-SKU train and test arrays."""

    history: SalesHistory
    path: str  # as load_history takes it: a named source or an absolute path
    splits: tuple[str, str] | None  # (validation, test) given to load_history, None: the history's own
    test: pd.Timestamp
    scale: float = 1.0
    train: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def resolve(name: str, base_dir: str | Path | None) -> str:
    """A named source as is; a relative file path relative to ``base_dir`` (the config's folder)."""
    if name in NAMED_SOURCES or Path(name).is_absolute() or base_dir is None:
        return name
    return str(Path(base_dir) / name)


def load_source(cfg: CatalogueConfig, base_dir: str | Path | None) -> HistoryData:
    """Load, clean and split the catalogue's sales history; DataError naming the file and the problem."""
    assert cfg.history is not None
    path = resolve(cfg.history, base_dir)
    splits = None
    try:
        if cfg.splits is not None and (cfg.splits.test or cfg.splits.validation):
            own = load_history(path, cfg.cleaning).splits
            test = pd.Timestamp(cfg.splits.test) if cfg.splits.test else own.test
            validation = (
                pd.Timestamp(cfg.splits.validation) if cfg.splits.validation else min(own.validation, test)
            )
            splits = (str(validation.date()), str(test.date()))
        history = load_history(path, cfg.cleaning, splits)
    except DataError as exc:
        raise DataError(f"catalogue.history: {exc}") from None
    return HistoryData(history, path, splits, history.splits.test)


def train_arrays(data: HistoryData, skus: Sequence[str], scale: float) -> None:
    """Fill ``data.train`` with each SKU's train periods (units, scaled and rounded)."""
    groups = data.history._groups()
    test = data.test.to_datetime64()
    for sku in skus:
        s = groups[sku]
        dates = s.index.to_numpy()
        data.train[sku] = _scaled(s.to_numpy()[: np.searchsorted(dates, test)], scale)


def replay_models(data: HistoryData, skus: Sequence[str], scale: float) -> tuple[list[ReplayDemand], int]:
    """Replay of every SKU's test period on the shared calendar grid, and the grid's length (periods)."""
    groups = data.history._groups()
    last = max(groups[s].index[-1] for s in skus)
    grid = pd.date_range(data.test, last, freq=data.history.freq).to_numpy() if last >= data.test else []
    if len(grid) == 0:
        raise DataError(
            f"catalogue.splits.test: {data.test.date()} is after the last date of every selected SKU "
            f"({last.date()}); there is no test period to replay"
        )
    models, padded = [], []
    for sku in skus:
        s = groups[sku]
        dates = s.index.to_numpy()
        first = np.searchsorted(dates, grid[0])
        values = np.zeros(len(grid), dtype=np.int64)
        # every date of a clean history is on its frequency's grid, so positions are exact
        values[np.searchsorted(grid, dates[first:])] = s.to_numpy()[first:]
        if len(dates) - first != len(grid):
            padded.append(sku)
        models.append(ReplayDemand(dist="replay", values=_scaled(values, scale).tolist(), at_end="stop"))
    if padded:
        data.notes.append(
            f"{len(padded)} SKUs have no sales on part of the test grid ({str(grid[0])[:10]} .. "
            f"{str(grid[-1])[:10]}) and replay zeros there, e.g. {padded[:3]}"
        )
    return models, len(grid)


def forecast_models(data: HistoryData, skus: Sequence[str], cfg: CatalogueConfig) -> list[ForecastFedDemand]:
    """One forecast-fed demand model per SKU, fitted on its train periods (fits cached in the process)."""
    splits = None if data.splits is None else SplitDates(validation=data.splits[0], test=data.splits[1])  # type: ignore[arg-type]
    out = []
    for sku in skus:
        spec: dict[str, Any] = {
            "dist": "forecast_fed", "path": data.path, "sku": sku, "start": data.test.date(),
            "model": cfg.forecaster, "model_params": cfg.forecaster_params, "noise": cfg.noise,
            "scale": cfg.scale, "cleaning": cfg.cleaning, "splits": splits,
        }  # fmt: skip
        try:
            out.append(ForecastFedDemand.model_validate(spec))
        except (DataError, ConfigError) as exc:
            raise type(exc)(f"catalogue sku '{sku}': forecaster '{cfg.forecaster}': {exc}") from None
        except ValueError as exc:  # pydantic wraps what the validator raised
            raise DataError(f"catalogue sku '{sku}': forecaster '{cfg.forecaster}': {exc}") from None
    return out


def _scaled(values: np.ndarray, scale: float) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values.astype(np.int64) if scale == 1.0 else np.rint(values * scale).astype(np.int64)


# --------------------------------------------------------------------------------------- selection
def select(available: list[str], selection: SkuSelection, segment_labels: Any = None) -> list[str]:
    """The SKUs of ``available`` that ``selection`` picks, in catalogue order (a list: its order).

    ``segment_labels(method, k, seed) -> dict sku -> label`` gives the segments when asked for.
    """
    kind = selection.kind
    if kind == "all":
        return list(available)
    if kind == "skus":
        return _listed(available, selection.skus or [])
    if kind == "sample":
        n = int(selection.sample or 0)
        if n > len(available):
            raise ConfigError(
                f"catalogue.select.sample: {n} is more than the {len(available)} SKUs available"
            )
        rng = np.random.default_rng(np.random.SeedSequence(selection.seed or 0))
        picked = np.sort(rng.choice(len(available), size=n, replace=False))
        return [available[i] for i in picked.tolist()]
    seg = selection.segment
    assert seg is not None and segment_labels is not None
    if seg.method == "syntetos_boylan":
        for name in seg.labels:
            if name not in CLASSES:
                raise ConfigError(
                    f"catalogue.select.segment.label: unknown class '{name}'.{did_you_mean(name, CLASSES)} "
                    f"Allowed: {', '.join(CLASSES)}"
                )
    labels = segment_labels(seg.method, seg.k, seg.seed)
    wanted = set(seg.labels)
    chosen = [s for s in available if str(labels[s]) in wanted]
    if not chosen:
        counts = pd.Series([str(v) for v in labels.values()]).value_counts().to_dict()
        raise ConfigError(
            f"catalogue.select.segment: no SKU has {seg.method} label {seg.labels} (SKUs per label: {counts})"
        )
    return chosen


def _listed(available: list[str], wanted: list[str]) -> list[str]:
    known = set(available)
    seen: set[str] = set()
    for k, sku in enumerate(wanted):
        if sku not in known:
            raise ConfigError(
                f"catalogue.select.skus[{k}]: no sku '{sku}' in the source.{did_you_mean(sku, available)} "
                f"({len(available)} SKUs, e.g. {available[:3]})"
            )
        if sku in seen:
            raise ConfigError(f"catalogue.select.skus[{k}]: sku '{sku}' is listed twice")
        seen.add(sku)
    return list(wanted)


def sb_labels(train: dict[str, np.ndarray]) -> dict[str, str]:
    """Syntetos-Boylan class of every SKU's train periods."""
    return dict(zip(train, classify(list(train.values()))))
