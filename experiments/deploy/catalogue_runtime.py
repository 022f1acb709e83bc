"""A deployed catalogue policy: one call decides the orders of every SKU, honouring the shared limits.

An artefact of kind ``catalogue`` (written by :mod:`stocklab.experiments.deploy.catalogue_export`)
holds ``catalogue.json`` (:mod:`~stocklab.experiments.deploy.catalogue_record`) and ``policy.json``
(the policy's kind and saved parameters). :class:`DeployedCatalogue` rebuilds the policy and decides
one period for all SKUs at once, exactly as the simulation did at a decision time:

1. one state per SKU (its ``sku`` id and the fields of the catalogue's observation layout, as for a
   single-SKU policy; a SKU with a shorter lead time leaves the extra ``pipeline`` entries 0), in any
   order, every SKU of the catalogue exactly once, because the limits couple them;
2. the policy's orders from the (N, n) observations and the shared state (volume on hand and on
   order, the limits) that :class:`~stocklab.envs.catalogue.policy.CatalogueState` gives it;
3. the budget rule of the catalogue (pro rata or by priority, ``stocklab.envs.engines.shared``) when
   the orders cost more than the budget B: the orders returned are the orders placed. The capacity
   is a rule of receipt (the warehouse refuses, or charges, what does not fit when it arrives); the
   decision reports the volume on hand, on order and ordered now against it.

**Memory.** A policy that carries something from one period to the next (the coordinator's adaptive
room) returns it in :attr:`CatalogueDecision.memory`; passing that back with the next period's
states makes it decide as in simulation. The memory names the artefact it belongs to and the period
count; a memory of another artefact is refused. Without one, the policy starts afresh (period 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stocklab.envs.catalogue.policy import CatalogueState
from stocklab.envs.core.errors import PolicyError, did_you_mean
from stocklab.envs.core.obs import ObsSpec
from stocklab.envs.engines.params import batch_layout
from stocklab.envs.engines.shared import SharedArrays, total
from stocklab.experiments.deploy.artefact import parse_json, read_artefact
from stocklab.experiments.deploy.catalogue_record import catalogue_from_record
from stocklab.experiments.deploy.state_vector import StateVectors

#: The artefact kind and its files.
ARTEFACT = "catalogue"
FILES = {"catalogue.json", "policy.json"}
#: Format name of a decision's memory.
MEMORY_FORMAT = "stocklab-catalogue-memory"


@dataclass(frozen=True)
class CatalogueDecision:
    """One period's decision for a catalogue, in the order the states were given.

    ``orders``: units placed per SKU (after the budget rule); ``wanted``: what the policy asked for
    before it. ``asked`` / ``spent``: money the wanted / placed orders cost; ``budget``: B (None
    without one). ``capacity``: C (None without one); ``on_hand_volume`` / ``on_order_volume``: the
    volume in the warehouse and on the way; ``ordered_volume``: the volume ordered now. ``memory``:
    pass it back with the next period's states (None for a memoryless policy).
    """

    skus: list[str]
    orders: list[int]
    wanted: list[int]
    asked: float
    spent: float
    budget: float | None
    capacity: float | None
    on_hand_volume: float
    on_order_volume: float
    ordered_volume: float
    memory: dict[str, Any] | None
    #: Units the budget rule cut from the policy's orders, over all SKUs.
    cut_by_budget: int = 0

    def summary(self) -> dict[str, Any]:
        """The catalogue totals, JSON-ready (everything but the per-SKU lists)."""
        return {
            "skus": len(self.orders), "asked": self.asked, "spent": self.spent, "budget": self.budget,
            "capacity": self.capacity, "on_hand_volume": self.on_hand_volume,
            "on_order_volume": self.on_order_volume, "ordered_volume": self.ordered_volume,
            "cut_by_budget": self.cut_by_budget,
        }  # fmt: skip


class DeployedCatalogue(StateVectors):
    """An exported catalogue policy, ready to decide the orders (units) of all its SKUs per period."""

    def __init__(self, directory: Path, manifest: dict[str, Any], files: dict[str, bytes]) -> None:
        from stocklab.experiments.run.catalogue.reload import policy_from_saved

        self.directory, self.manifest = Path(directory), manifest
        where = str(self.directory)
        policy = manifest.get("policy")
        if not isinstance(policy, dict) or not all(isinstance(policy.get(k), str) for k in ("name", "kind")):
            raise PolicyError(f"{where}: manifest 'policy' must hold the strings 'name' and 'kind'")
        if set(manifest["files"]) != FILES:
            raise PolicyError(f"{where}: a catalogue artefact consists of {sorted(FILES)}")
        self.catalogue = catalogue_from_record(
            parse_json(files["catalogue.json"], f"{where}/catalogue.json"), f"{where}/catalogue.json"
        )
        saved = parse_json(files["policy.json"], f"{where}/policy.json")
        if not isinstance(saved, dict) or set(saved) != {"kind", "params"} or saved["kind"] != policy["kind"]:
            raise PolicyError(
                f"{where}/policy.json: expected {{'kind': {policy['kind']!r}, 'params': {{...}}}}"
            )
        try:
            self.policy = policy_from_saved(self.catalogue, policy["name"], saved["kind"], saved["params"])
        except PolicyError as exc:
            raise PolicyError(f"{where}/policy.json: {exc}") from None
        configs = list(self.catalogue.configs)
        self.obs_spec: ObsSpec = batch_layout(configs)
        if manifest.get("obs_spec") != self.obs_spec.to_json():
            raise PolicyError(f"{where}: the manifest's obs_spec does not match its catalogue")
        self._fields = [f.name for f in self.obs_spec.fields]
        self.skus = list(self.catalogue.skus)
        self._index = {s: i for i, s in enumerate(self.skus)}
        cat = self.catalogue
        self.shared = (
            SharedArrays.build(cat.shared, cat.size, cat.volume, cat.unit_cost, cat.priority)
            if cat.shared is not None
            else None
        )
        self._padding = _padding(self.obs_spec, configs)

    @property
    def name(self) -> str:
        """The policy's name in the catalogue run."""
        return str(self.manifest["policy"]["name"])

    @property
    def size(self) -> int:
        """Number of SKUs."""
        return len(self.skus)

    def positions(self, skus: Sequence[Any], label: str = "states") -> np.ndarray:
        """Catalogue position of each given SKU id; PolicyError unless every SKU appears exactly once."""
        if len(skus) == self.size:  # the usual case, in bulk; any doubt falls through to the checks
            try:
                pos = np.fromiter(map(self._index.__getitem__, skus), dtype=np.int64, count=len(skus))
            except (KeyError, TypeError):
                pos = None
            if pos is not None and np.bincount(pos, minlength=self.size).max(initial=0) <= 1:
                return pos
        pos = np.empty(len(skus), dtype=np.int64)
        seen: dict[str, int] = {}
        for k, sku in enumerate(skus):
            if not isinstance(sku, str) or not sku:
                raise PolicyError(f"{label}[{k}]: no sku; a catalogue policy needs the sku of every state")
            if sku not in self._index:
                raise PolicyError(
                    f"{label}[{k}]: sku {sku!r} is not in this catalogue.{did_you_mean(sku, self.skus)}"
                )
            if sku in seen:
                raise PolicyError(
                    f"{label}[{k}]: sku {sku!r} repeats {label}[{seen[sku]}]; give each SKU once"
                )
            seen[sku] = k
            pos[k] = self._index[sku]
        if len(seen) != self.size:
            missing = next(s for s in self.skus if s not in seen)
            raise PolicyError(
                f"{label}: {len(seen)} of the catalogue's {self.size} SKUs; sku {missing!r} (and "
                f"{self.size - len(seen) - 1} more) missing. The shared limits couple the SKUs, so every SKU "
                "needs its state in every decision"
            )
        return pos

    def decide(
        self, states: Sequence[Mapping[str, Any]], memory: Any = None, label: str = "states"
    ) -> CatalogueDecision:
        """The decision for named states, one per SKU, each with its ``sku`` (module docstring)."""
        skus = [s.get("sku") if isinstance(s, Mapping) else None for s in states]
        pos = self.positions(skus, label)
        rows = [self.vector(s, f"{label}[{k}] (sku {skus[k]!r})") for k, s in enumerate(states)]
        obs = np.vstack(rows) if rows else np.empty((0, self.obs_spec.size), dtype=np.float32)
        return self.decide_observations(skus, obs, memory, pos, label)  # type: ignore[arg-type]

    def decide_observations(
        self, skus: list[str], obs: np.ndarray, memory: Any = None, pos: np.ndarray | None = None,
        label: str = "states",
    ) -> CatalogueDecision:  # fmt: skip
        """The decision for observation rows ``obs`` (one per SKU of ``skus``, in that order)."""
        pos = self.positions(skus, label) if pos is None else pos
        full = np.empty((self.size, self.obs_spec.size), dtype=np.float64)
        full[pos] = obs
        self._check_padding(full, label, pos)
        period = self._restore(memory)
        state = self.state(full, period)
        wanted = np.asarray(self.policy.orders(full, state), dtype=np.int64)
        if self.shared is not None:
            placed, spent, asked = self.shared.budget_orders(wanted)
            volume = self.shared.volume
        else:
            placed, volume = wanted, np.ones(self.size)
            spent = asked = total(self.catalogue.unit_cost * wanted)
        own = self.policy.memory()
        mem = None if own is None else {
            "format": MEMORY_FORMAT, "policy_sha256": self.manifest["manifest_sha256"], "period": period + 1,
            "policy": own,
        }  # fmt: skip
        return CatalogueDecision(
            skus=list(skus), orders=placed[pos].tolist(), wanted=wanted[pos].tolist(), asked=asked,
            spent=spent, budget=state.budget, capacity=state.capacity, on_hand_volume=state.capacity_used,
            on_order_volume=state.inbound, ordered_volume=total(volume * placed), memory=mem,
            cut_by_budget=int((wanted - placed).sum()),
        )  # fmt: skip

    def state(self, obs: np.ndarray, period: int) -> CatalogueState:
        """The shared state of catalogue-ordered observations, computed as the engine computes it."""
        spec = self.obs_spec
        on_hand = obs[:, spec.index("on_hand").start]
        ip = obs[:, spec.index("inventory_position").start]
        backlog = obs[:, spec.index("backlog").start] if spec.has("backlog") else 0.0
        on_order = ip - on_hand + backlog
        sh = self.shared
        volume = np.ones(self.size) if sh is None else sh.volume
        return CatalogueState(
            period=period, on_hand=on_hand, on_order=on_order, inventory_position=ip, volume=volume,
            unit_cost=np.ones(self.size) if sh is None else sh.unit_cost,
            capacity=None if sh is None else sh.capacity, capacity_used=total(volume * on_hand),
            inbound=total(volume * on_order), budget=None if sh is None else sh.budget,
        )  # fmt: skip

    def _restore(self, memory: Any) -> int:
        """Reset the policy and continue from ``memory`` (None: a fresh start); the period count."""
        self.policy.reset()
        if memory is None:
            return 0
        sha = self.manifest["manifest_sha256"]
        if not isinstance(memory, Mapping) or set(memory) != {"format", "policy_sha256", "period", "policy"} or (
            memory["format"] != MEMORY_FORMAT
        ):  # fmt: skip
            raise PolicyError(f"memory: not a catalogue decision's memory (format {MEMORY_FORMAT!r})")
        if memory["policy_sha256"] != sha:
            raise PolicyError(
                f"memory: written by another policy (manifest {str(memory['policy_sha256'])[:12]}...), not "
                f"{self.name} ({sha[:12]}...); start without it"
            )
        period = memory["period"]
        if not isinstance(period, int) or isinstance(period, bool) or period < 0:
            raise PolicyError(f"memory.period: {period!r} is not a period count (a whole number >= 0)")
        if memory["policy"] is not None:
            self.policy.restore(
                dict(memory["policy"]) if isinstance(memory["policy"], Mapping) else memory["policy"]
            )
        return period

    def _check_padding(self, obs: np.ndarray, label: str, pos: np.ndarray) -> None:
        """Refuse stock in pipeline slots beyond a SKU's lead time (the policy would misread it)."""
        if self._padding is None:
            return
        bad = obs[self._padding[0], self._padding[1]] != 0
        if bad.any():
            i, col = int(self._padding[0][bad][0]), int(self._padding[1][bad][0])
            k = int(np.flatnonzero(pos == i)[0])
            name = next(
                f"{f.name}[{col - self.obs_spec.index(f.name).start}]"
                for f in self.obs_spec.fields
                if self.obs_spec.index(f.name).start <= col < self.obs_spec.index(f.name).stop
            )
            raise PolicyError(
                f"{label}[{k}] (sku {self.skus[i]!r}): {name} = {obs[i, col]:g}, but the SKU's lead time "
                "leaves that entry empty; give 0"
            )


def _padding(spec: ObsSpec, configs: list[Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """(rows, columns) of the batch layout's entries that a SKU's own layout does not have (always 0)."""
    rows, cols = [], []
    for i, config in enumerate(configs):
        own = ObsSpec.for_config(config)
        for f in spec.fields:
            size = next((g.size for g in own.fields if g.name == f.name), 0)
            extra = range(spec.index(f.name).start + size, spec.index(f.name).stop)
            rows += [i] * len(extra)
            cols += list(extra)
    return (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)) if rows else None


def load_catalogue(
    directory: str | Path, *, key: bytes | None = None, require_signature: bool = False
) -> DeployedCatalogue:
    """Verify and load a catalogue artefact (PolicyError says what is wrong)."""
    manifest, files = read_artefact(Path(directory), key, require_signature)
    if manifest.get("artefact") != ARTEFACT:
        raise PolicyError(f"{directory}: a {manifest.get('artefact')!r} artefact, not a catalogue policy")
    return DeployedCatalogue(Path(directory), manifest, files)


__all__ = ["ARTEFACT", "CatalogueDecision", "DeployedCatalogue", "load_catalogue"]
