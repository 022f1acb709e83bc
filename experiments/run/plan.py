"""The plan of a run: its seeds, its units of work and each unit's hash, from the config alone.

A run is a set of units: the DP optimum (where the instance allows), one build per policy (tune,
train or solve) and one evaluation episode per policy and seed. A unit's hash covers its inputs and
its code identity (:func:`~stocklab.experiments.run.manifest.code_identity`), so a re-run reuses a
unit exactly when the same inputs would be computed by the same code.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stocklab.baselines.exact.tables import dp_instance, optimum_params
from stocklab.envs.core.errors import ConfigError
from stocklab.envs.core.seeding import episode_seeds
from stocklab.envs.core.storage import stable_hash
from stocklab.experiments.config import ExperimentConfig, PolicyConfig, check_policies
from stocklab.experiments.kinds import REGISTRY
from stocklab.experiments.run.manifest import code_digest, code_identity

#: Spawn-key branch of training seeds: evaluation seeds use branches 0..episodes-1 of the same root.
TRAIN_BRANCH = 2**31

#: Code that computes the DP optimum, each policy's evaluation episodes, and (besides the kind's own
#: package) each build. A build also scores its policy exactly (baselines) and runs in the runner's
#: glue (experiments.run).
OPTIMUM_CODE = ("stocklab.envs", "stocklab.baselines")
BUILD_CODE = ("stocklab.envs", "stocklab.baselines", "stocklab.experiments.run")
EPISODE_CODE = (
    "stocklab.envs", "stocklab.experiments.run", "stocklab.experiments.analysis.evaluate",
    "stocklab.experiments.analysis.kpis",
)  # fmt: skip


@dataclass(frozen=True)
class PolicyUnit:
    """What identifies one policy's build: its config entry, training seed, input hash and code."""

    spec: PolicyConfig
    seed: int
    hash: str
    #: Digest of the code identity that builds it (see :attr:`Plan.code`).
    code: str = ""


@dataclass
class Plan:
    """Everything a run computes, with each unit's hash."""

    cfg: ExperimentConfig
    config_hash: str
    eval_seeds: list[int]
    units: dict[str, PolicyUnit]
    episode_hashes: dict[str, list[str]]
    optimum_hash: str | None
    #: Whether the DP optimum and exact gaps apply to this env.
    exact: bool
    #: Code identities by digest: which code produced each kind of unit (for the manifest).
    code: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Digest of the code identity of the optimum and of the evaluation episodes.
    optimum_code: str = ""
    episode_code: str = ""


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json", by_alias=True)


def train_seed(cfg: ExperimentConfig, name: str) -> int:
    """Training / tuning seed of policy ``name``: ``train.seed`` or derived from ``evaluation.seed``.

    The derived seed comes from the name on a SeedSequence branch that the evaluation seeds never use.
    """
    spec = next(p for p in cfg.policies if p.name == name)
    if spec.train.seed is not None:
        return spec.train.seed
    seq = np.random.SeedSequence(cfg.evaluation.seed, spawn_key=(TRAIN_BRANCH, zlib.crc32(name.encode())))
    return int(seq.generate_state(1)[0])


def preflight(cfg: ExperimentConfig) -> bool:
    """Every check ``stocklab run`` makes before any work (``stocklab validate`` runs the same).

    Raises ConfigError naming the key path. Returns whether the DP optimum and exact gaps apply to
    the env (``evaluation.exact`` and the instance within the DP's scope).
    """
    if not cfg.policies:
        raise ConfigError(
            "policies: a run needs at least one policy, e.g. {name: base_stock, kind: base_stock}"
        )
    check_policies(cfg, deep=True)  # the checks that import torch, before any work
    eval_seeds = set(episode_seeds(cfg.evaluation.seed, cfg.evaluation.episodes))
    for spec in cfg.policies:
        seed = train_seed(cfg, spec.name)
        if seed in eval_seeds:
            raise ConfigError(
                f"policies: training seed {seed} of '{spec.name}' is an evaluation seed; set train.seed"
            )
    if not cfg.evaluation.exact:
        return False
    try:
        dp_instance(cfg.env, optimum_params(cfg.policies))
    except ConfigError:
        return False  # out of the DP's scope: gaps stay unknown, the report says so
    return True


def make_plan(cfg: ExperimentConfig) -> Plan:
    """Seeds and unit hashes of an experiment (pure: the same config and code give the same plan)."""
    exact = preflight(cfg)
    env, ev = _dump(cfg.env), cfg.evaluation
    eval_seeds = episode_seeds(ev.seed, ev.episodes)
    codes: dict[str, dict[str, Any]] = {}

    def digest(names: tuple[str, ...]) -> str:
        identity = code_identity(names)
        codes[code_digest(identity)] = identity
        return code_digest(identity)

    optimum_code, episode_code = digest(OPTIMUM_CODE), digest(EPISODE_CODE)
    optimum_hash = stable_hash({"env": env, "code": optimum_code}) if exact else None
    units, episode_hashes = {}, {}
    for spec in cfg.policies:
        seed = train_seed(cfg, spec.name)
        code = digest((*BUILD_CODE, REGISTRY.get(spec.kind).package))
        h = stable_hash({"env": env, "policy": _dump(spec), "seed": seed, "exact": exact, "code": code})
        units[spec.name] = PolicyUnit(spec, seed, h, code)
        episode_hashes[spec.name] = [
            stable_hash(
                {
                    "policy": h, "seed": s, "periods": cfg.eval_periods, "warmup": ev.warmup,
                    "trace": ev.trace_periods if i == 0 else 0, "code": episode_code,
                }
            )
            for i, s in enumerate(eval_seeds)
        ]  # fmt: skip
    return Plan(
        cfg, stable_hash(_dump(cfg)), eval_seeds, units, episode_hashes, optimum_hash, exact, codes,
        optimum_code, episode_code,
    )  # fmt: skip
