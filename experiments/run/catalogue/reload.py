"""Rebuild a catalogue policy from the parameters a catalogue run saved (``policies/<name>.json``).

A catalogue run writes each policy's :meth:`~stocklab.envs.catalogue.policy.CataloguePolicy.params`
as JSON; :func:`policy_from_saved` turns them back into the policy that was evaluated, for the
catalogue it was built on (the run's tuning catalogue, :func:`~.policies.tuning_catalogue`): per-SKU
rules from each SKU's single-SKU parameters, the coordinator from its levels, price path and rationing
inputs, the shared PPO policy from its network. No tuning or training is repeated, so export is quick
and the rebuilt policy decides exactly as the run's did (the export checks it,
:func:`stocklab.experiments.deploy.catalogue_export.export_catalogue`).
"""

from __future__ import annotations

from typing import Any

from stocklab.envs.catalogue.catalogue import Catalogue
from stocklab.envs.catalogue.policy import CataloguePolicy
from stocklab.envs.core.errors import PolicyError, StocklabError
from stocklab.envs.core.obs import ObsSpec
from stocklab.envs.core.policy import ActionMap
from stocklab.envs.engines.params import batch_action_map, batch_layout


def _rules(catalogue: Catalogue, name: str, params: dict[str, Any]) -> CataloguePolicy:
    from stocklab.baselines.catalogue.rules import SkuRules
    from stocklab.baselines.policies.classic import POLICIES, build_policy
    from stocklab.experiments.run.catalogue.policies import RulesPolicy

    base, per_sku = params.get("base"), params.get("per_sku")
    if base not in POLICIES:
        raise PolicyError(f"{name}: params.base {base!r} is not a single-SKU kind ({', '.join(POLICIES)})")
    if not isinstance(per_sku, list) or len(per_sku) != catalogue.size:
        got = len(per_sku) if isinstance(per_sku, list) else type(per_sku).__name__
        raise PolicyError(f"{name}: params.per_sku must list one entry per SKU ({catalogue.size}); got {got}")
    policies = []
    for sku, config, entry in zip(catalogue.skus, catalogue.configs, per_sku, strict=True):
        if not isinstance(entry, dict):
            raise PolicyError(f"{name}: params.per_sku of sku {sku!r} must be an object")
        try:
            policies.append(
                build_policy(str(base), config, {k: v for k, v in entry.items() if v is not None})
            )
        except (StocklabError, TypeError, ValueError) as exc:
            raise PolicyError(f"{name}: sku {sku!r}: {exc}") from None
    configs = list(catalogue.configs)
    rules = SkuRules(policies, batch_action_map(configs), batch_layout(configs))
    return RulesPolicy(name, rules, params.get("info") or {})


def policy_from_saved(catalogue: Catalogue, name: str, kind: str, params: Any) -> CataloguePolicy:
    """The catalogue policy ``name`` of kind ``kind`` described by saved ``params``, for ``catalogue``.

    PolicyError names the policy and what does not fit (an unknown kind, parameters for another
    number of SKUs, a malformed network).
    """
    if not isinstance(params, dict):
        raise PolicyError(f"{name}: saved parameters must be an object, not {type(params).__name__}")
    policy: CataloguePolicy
    if kind in ("per_sku", "newsvendor"):
        policy = _rules(catalogue, name, params)
    elif kind == "lagrangian":
        from stocklab.baselines.catalogue.coordinator import LagrangianCoordinator

        configs = list(catalogue.configs)
        amap: ActionMap = batch_action_map(configs)
        spec: ObsSpec = batch_layout(configs)
        policy = LagrangianCoordinator.from_params(params, amap, spec, catalogue)
        if policy.path_levels.shape[0] != catalogue.size:
            raise PolicyError(f"{name}: levels for {policy.path_levels.shape[0]} SKUs, not {catalogue.size}")
    elif kind == "shared_ppo":
        from stocklab.agents.catalogue.shared_ppo import SharedPPOPolicy

        policy = SharedPPOPolicy.from_params(params, catalogue)
    else:
        raise PolicyError(
            f"{name}: unknown catalogue policy kind {kind!r} (per_sku, newsvendor, lagrangian, shared_ppo)"
        )
    policy.name = name
    return policy


__all__ = ["policy_from_saved"]
