"""The catalogue policy kinds of stocklab.baselines: per-SKU classic policies and the Lagrangian coordinator.

A catalogue kind (``scope = "catalogue"``) builds one :class:`CataloguePolicy` for a whole catalogue,
not a single-SKU policy, with the same calls as the agents' ``shared_ppo`` kind:
:meth:`CatalogueKind.build_for` (catalogue, config entry, training seed, run folder) builds it, saves
its parameters as JSON under ``workdir/policy`` and returns (policy, info for the run's record);
:meth:`CatalogueKind.load_for` reloads it from there; :meth:`CatalogueKind.rebuild_for` rebuilds it
from its parameters (``policy.params()``, what an export holds). Config entries::

    {name: base_stock, kind: per_sku, params: {base: base_stock}}          # tuned per SKU
    {name: fast, kind: per_sku, params: {base: base_stock, tuner: batch}}  # all SKUs in one batch
    {name: s_S, kind: per_sku, params: {base: ss}, train: {episodes: 4}}
    {name: capped, kind: per_sku, params: {base: capped_base_stock, level: 20, cap: 8}}   # given
    {name: newsvendor, kind: newsvendor}                                    # per SKU, from forecasts
    {name: coordinator, kind: lagrangian, params: {target: 0.99}}

Implementations are imported when a kind is used, so reading the kinds stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stocklab.envs.core.errors import ConfigError, PolicyError
from stocklab.envs.core.kinds import PolicyKind, PolicySpec
from stocklab.envs.core.storage import check_format, format_stamp, read_json, write_json

if TYPE_CHECKING:
    from stocklab.envs.catalogue.policy import CataloguePolicy
    from stocklab.envs.config import EnvConfig

#: Default training budget (episodes x periods per candidate) when ``train`` leaves it out.
TRAIN_EPISODES = 4
TRAIN_PERIODS = 1000

Progress = Callable[[float, float | None], None]
#: The saved policy's file inside a policy folder, and its on-disk format name.
POLICY_FILE = "catalogue_policy.json"
FORMAT = "stocklab-catalogue-policy"


@dataclass
class CatalogueBuilt:
    """A built catalogue policy: ``params`` rebuild it (:meth:`CatalogueKind.rebuild_for`); ``info`` says how."""

    policy: CataloguePolicy
    params: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)


class CatalogueKind(PolicyKind):
    """A policy kind that decides for a whole catalogue at once (``scope = "catalogue"``)."""

    scope = "catalogue"
    family = "classic"
    export = "catalogue_params"

    def build_policy(
        self, catalogue: Any, spec: PolicySpec, seed: int, progress: Progress | None = None
    ) -> CatalogueBuilt:
        """Build (tune or fit) the policy for ``catalogue`` on training seeds from ``seed``."""
        raise NotImplementedError

    def build_for(
        self,
        catalogue: Any,
        spec: PolicySpec,
        seed: int,
        workdir: str | Path | None = None,
        progress: Progress | None = None,
    ) -> tuple[CataloguePolicy, dict[str, Any]]:
        """Build the policy, save its parameters under ``workdir/policy`` (if given); (policy, info)."""
        built = self.build_policy(catalogue, spec, seed, progress)
        if workdir is not None:
            path = Path(workdir) / "policy" / POLICY_FILE
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json(path, {**format_stamp(FORMAT), "kind": self.name, "params": built.params})
        return built.policy, built.info

    def load_for(self, catalogue: Any, workdir: str | Path) -> CataloguePolicy:
        """The policy :meth:`build_for` saved under ``workdir/policy``, for ``catalogue`` (PolicyError if bad)."""
        path = Path(workdir) / "policy" / POLICY_FILE
        if not path.is_file():
            raise PolicyError(f"{path}: no saved {self.name} policy")
        data = read_json(path)
        check_format(data, FORMAT, path, PolicyError)
        if data.get("kind") != self.name:
            raise PolicyError(f"{path}: a saved {data.get('kind')!r} policy, not {self.name}")
        return self.rebuild_for(catalogue, data["params"])

    def rebuild_for(self, catalogue: Any, params: dict[str, Any]) -> CataloguePolicy:
        """The policy :meth:`build_for` built, from its ``params`` (PolicyError / ConfigError if bad)."""
        raise NotImplementedError


class PerSkuKind(CatalogueKind):
    """One classic kind per SKU (``params.base``; the other params are the base kind's, for every SKU)."""

    def __init__(self, name: str, summary: str, base: str | None = None) -> None:
        self.name, self.summary, self.base = name, summary, base

    def _split(self, spec: PolicySpec) -> tuple[str, dict[str, Any]]:
        params = dict(spec.params)
        base = self.base or params.pop("base", None)
        if base is None:
            raise ConfigError(f"{self.name}: params.base is required (a single-SKU kind, e.g. base_stock)")
        if self.base is not None and "base" in params:
            raise ConfigError(f"{self.name}: params.base is fixed to {self.base}")
        return str(base), params

    def check(self, env: EnvConfig, spec: PolicySpec, deep: bool = False) -> None:
        """The base kind must exist and build on ``env`` (the catalogue's defaults) with the given params."""
        from stocklab.baselines.policies.classic import POLICIES, build_policy
        from stocklab.baselines.tuning.search import TUNABLE
        from stocklab.envs.core.errors import did_you_mean

        base, params = self._split(spec)
        tuner = params.pop("tuner", "single")
        if tuner not in ("single", "batch") or (tuner == "batch" and base != "base_stock"):
            raise ConfigError(
                f"{self.name}: params.tuner '{tuner}' must be 'single', or 'batch' with base base_stock"
            )
        if base not in POLICIES:
            raise ConfigError(
                f"{self.name}: params.base '{base}' is not a single-SKU kind.{did_you_mean(base, POLICIES)} "
                f"Allowed: {', '.join(POLICIES)}"
            )
        if params or base not in TUNABLE:
            build_policy(base, env, params)

    def build_policy(
        self, catalogue: Any, spec: PolicySpec, seed: int, progress: Progress | None = None
    ) -> CatalogueBuilt:
        """Given, default or tuned per SKU (:func:`~stocklab.baselines.catalogue.per_sku.per_sku_policy`)."""
        from stocklab.baselines.catalogue.per_sku import per_sku_policy

        base, params = self._split(spec)
        tuner = str(params.pop("tuner", "single"))
        tick = progress or (lambda done, total: None)
        policy = per_sku_policy(
            catalogue, base, params=params or None, tuner=tuner, episodes=spec.train.episodes or TRAIN_EPISODES,
            periods=spec.train.periods or TRAIN_PERIODS, seed=seed,
            progress=lambda done, total: tick(done, total),
        )  # fmt: skip
        methods = sorted({i.get("method", "") for i in policy.info})
        return CatalogueBuilt(policy, policy.params(), {"method": "/".join(methods), "seed": seed})

    def rebuild_for(self, catalogue: Any, params: dict[str, Any]) -> CataloguePolicy:
        """Each SKU's saved parameters."""
        from stocklab.baselines.catalogue.per_sku import per_sku_from_params

        return per_sku_from_params(catalogue, params)


class LagrangianKind(CatalogueKind):
    """The capacity- and budget-aware coordinator (:mod:`stocklab.baselines.catalogue.fit`)."""

    name = "lagrangian"
    summary = "per-SKU base-stock under Lagrangian prices on the shared limits, rationed when they bind"
    tunable = True

    def check(self, env: EnvConfig, spec: PolicySpec, deep: bool = False) -> None:
        """``params`` may set ``target`` (share of periods within capacity, in (0, 1))."""
        unknown = sorted(set(spec.params) - {"target"})
        if unknown:
            raise ConfigError(f"lagrangian: unknown parameter '{unknown[0]}'. Allowed: target")
        target = spec.params.get("target", 0.99)
        if not isinstance(target, int | float) or not 0.0 < float(target) < 1.0:
            raise ConfigError(f"lagrangian: params.target (={target!r}) must be in (0, 1)")

    def build_policy(
        self, catalogue: Any, spec: PolicySpec, seed: int, progress: Progress | None = None
    ) -> CatalogueBuilt:
        """Fit the prices and calibrate the rationing on training seeds from ``seed``."""
        from stocklab.baselines.catalogue.fit import fit_coordinator

        self.check(catalogue.configs[0], spec)
        periods = spec.train.periods or TRAIN_PERIODS
        policy = fit_coordinator(
            catalogue, episodes=spec.train.episodes or TRAIN_EPISODES, periods=periods, seed=seed,
            target=float(spec.params.get("target", 0.99)), calibration=(2, periods), progress=progress,
        )  # fmt: skip
        info = {"method": "fitted", "seed": seed, "lambda": policy.lambda_, "mu": policy.mu}
        return CatalogueBuilt(policy, policy.params(), info)

    def rebuild_for(self, catalogue: Any, params: dict[str, Any]) -> CataloguePolicy:
        """The coordinator from its saved levels, prices and rationing inputs."""
        from stocklab.baselines.catalogue.coordinator import LagrangianCoordinator
        from stocklab.envs.engines.params import batch_action_map, batch_layout

        configs = list(catalogue.configs)
        return LagrangianCoordinator.from_params(params, batch_action_map(configs), batch_layout(configs))


#: The catalogue kinds of this package (a registry of their own: names may repeat single-SKU ones).
CATALOGUE_KINDS: tuple[CatalogueKind, ...] = (
    PerSkuKind("per_sku", "one classic kind per SKU (params.base), given, default or tuned per SKU"),
    PerSkuKind(
        "newsvendor", "per-SKU newsvendor levels, from the forecasts when the SKUs have them", "newsvendor"
    ),
    LagrangianKind(),
)
