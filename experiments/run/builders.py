"""Policy builders: config ``kind`` -> how to check, build (train, tune or solve) and reload a policy.

Every kind has one :class:`Builder`. ``check`` runs at config load (cheap: parameter names and values,
whether the kind is available and fits the env); ``build`` does the work of a run (tuning, training,
solving) and saves what it needs into the policy's artefact folder; ``load`` rebuilds the same policy
from that folder, so a resumed run and every evaluation worker use the policy that was built once.
The runner, not the builders, decides what is already done (see :mod:`stocklab.experiments.run.runner`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stocklab.envs.config import EnvConfig
from stocklab.envs.core.errors import ConfigError, StocklabError
from stocklab.envs.core.policy import Policy
from stocklab.envs.core.seeding import episode_seeds
from stocklab.experiments.config import AGENT_KINDS, ExperimentConfig, PolicyConfig
from stocklab.experiments.store import read_pickle

Progress = Callable[[float, float | None], None]


@dataclass
class BuildContext:
    """What a builder gets: the env, the policy's config entry, its seeds and its artefact folder."""

    env: EnvConfig
    spec: PolicyConfig
    #: Base seed of training / tuning (never one of the evaluation seeds).
    seed: int
    #: Evaluation seeds, which training and tuning must not use.
    eval_seeds: frozenset[int]
    #: The policy's artefact folder (exists).
    workdir: Path
    #: ``progress(done, total)``: report training / tuning progress (total None: unknown).
    progress: Progress = lambda done, total: None
    #: The DP optimum (``baselines.dp.DPSolution``) when the run solved it.
    optimum: Any = None

    def seeds(self, n: int) -> list[int]:
        """``n`` distinct 32-bit seeds for training / tuning episodes, derived from :attr:`seed` and
        disjoint from the evaluation seeds.
        """
        out: list[int] = []
        children = np.random.SeedSequence(self.seed).spawn(n + len(self.eval_seeds))
        for child in children:
            s = int(child.generate_state(1)[0])
            if s not in self.eval_seeds and s not in out:
                out.append(s)
            if len(out) == n:
                break
        return out


@dataclass
class Built:
    """A built policy and what the run records about it."""

    policy: Policy
    #: Keyword parameters that rebuild the policy with ``build_policy`` (classic kinds), JSON-ready.
    build_params: dict[str, Any] = field(default_factory=dict)
    #: How it was obtained: {"method": "given" | "tuned" | "trained" | "solved", ...} plus figures.
    info: dict[str, Any] = field(default_factory=dict)
    #: Learning curve rows {"step": env steps, "value": ..., "metric": ...} (agents).
    curve: list[dict[str, Any]] | None = None


class Builder:
    """Interface of a policy builder."""

    def check(self, env: EnvConfig, spec: PolicyConfig, deep: bool = False) -> None:
        """Raise StocklabError when the entry cannot be built for this env (before any work); ``deep``
        also runs checks that import heavy libraries (torch), which ``stocklab run`` does first.
        """

    def build(self, ctx: BuildContext) -> Built:
        """Train, tune or solve; save artefacts under ``ctx.workdir``."""
        raise NotImplementedError

    def load(self, ctx: BuildContext, record: dict[str, Any]) -> Policy:
        """Rebuild the policy saved by :meth:`build` (default: the pickle the runner wrote)."""
        return read_pickle(ctx.workdir / "policy.pkl")

    #: Whether the runner pickles the built policy for :meth:`load`.
    pickles = True


def _not_available(kind: str, what: str) -> ConfigError:
    return ConfigError(f"policy kind '{kind}' is not available yet ({what} is missing)")


def _module(name: str, kind: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if exc.name and not name.startswith(exc.name) and not exc.name.startswith(name):
            raise  # a dependency of an existing module is missing: a real error, not "not yet built"
        raise _not_available(kind, name) from None


def _attr(module: Any, name: str, kind: str) -> Any:
    obj = getattr(module, name, None)
    if obj is None:
        raise _not_available(kind, f"{module.__name__}.{name}")
    return obj


def module_attr(module: str, name: str, kind: str) -> Any:
    """``module.name`` for policy ``kind``; ConfigError "not available yet" when it does not exist."""
    return _attr(_module(module, kind), name, kind)


# ------------------------------------------------------------------------------------- classic kinds
#: Classic kinds that are used as configured (their defaults are fine without tuning).
UNTUNED = ("newsvendor", "lp")


class ClassicBuilder(Builder):
    """base_stock, ss, rq, constant, newsvendor, capped_base_stock, lp: built from ``params`` when given;
    otherwise newsvendor and lp use their defaults and the others are tuned by
    ``stocklab.baselines.tuning.search.tune`` (exact where theory allows, else a search simulated on training
    seeds; budget ``train.episodes`` x ``train.periods``).
    """

    pickles = False

    def check(self, env: EnvConfig, spec: PolicyConfig, deep: bool = False) -> None:
        classic = _module("stocklab.baselines.policies.classic", spec.kind)
        if spec.params or spec.kind in UNTUNED:
            _attr(classic, "build_policy", spec.kind)(spec.kind, env, spec.params)
            return
        tunable = _attr(_module("stocklab.baselines.tuning.search", spec.kind), "TUNABLE", spec.kind)
        if spec.kind not in tunable:
            needs = ", ".join(getattr(classic.POLICIES[spec.kind], "REQUIRED", ()))
            raise ConfigError(
                f"{spec.kind} is not tuned automatically: give params ({needs}); "
                f"kinds tuned when params are left out: {', '.join(tunable)}"
            )

    def build(self, ctx: BuildContext) -> Built:
        spec = ctx.spec
        build_policy = _attr(_module("stocklab.baselines.policies.classic", spec.kind), "build_policy", spec.kind)
        if spec.params or spec.kind in UNTUNED:
            policy = build_policy(spec.kind, ctx.env, spec.params)
            return Built(policy, dict(spec.params), {"method": "given" if spec.params else "default"})
        tune = _attr(_module("stocklab.baselines.tuning.search", spec.kind), "tune", spec.kind)
        budget = spec.train
        episodes = budget.episodes or 10
        seed = ctx.seed
        while set(episode_seeds(seed, episodes)) & ctx.eval_seeds:  # never tune on evaluation scenarios
            seed += 1
        progress = ctx.progress
        result = tune(
            ctx.env, spec.kind, episodes=episodes, periods=budget.periods or 1000, seed=seed,
            progress=lambda done, total: progress(done, total),
        )  # fmt: skip
        params = dict(result.params)
        info = {
            "method": "tuned", "tuning": result.method, "algorithm": result.algorithm,
            "tuning_avg_cost": result.avg_cost, "tuning_ci95": result.ci95,
            "evaluations": result.evaluations, "tuning_seed": seed,
        }  # fmt: skip
        return Built(build_policy(spec.kind, ctx.env, params), params, info)

    def load(self, ctx: BuildContext, record: dict[str, Any]) -> Policy:
        build_policy = _attr(
            _module("stocklab.baselines.policies.classic", ctx.spec.kind), "build_policy", ctx.spec.kind
        )
        return build_policy(ctx.spec.kind, ctx.env, record["build_params"])


# ----------------------------------------------------------------------------------------- optimum
def optimum_params(cfg: ExperimentConfig) -> dict[str, Any]:
    """The DP limits a config sets: the ``params`` of its ``kind: optimal`` entry, else none.

    The keys are ``max_states``, ``max_memory_gib`` and ``time_limit`` (seconds).
    """
    return next((dict(p.params) for p in cfg.policies if p.kind == "optimal"), {})


def dp_instance(env: EnvConfig, kind: str = "optimal", params: dict[str, Any] | None = None) -> Any:
    """Check, without building it, that the DP of ``env`` is in scope and fits the limits in ``params``.

    Returns its size; raises ConfigError when out of scope, ResourceLimitError (a ConfigError) when
    too big.
    """
    tasks = _module("stocklab.baselines.exact.tasks", kind)
    return tasks.check_dp(env, tasks.limits_of(params))


def solve_optimum(env: EnvConfig, params: dict[str, Any] | None = None) -> Any:
    """Solve the DP of ``env`` within the limits in ``params``.

    Returns a ``DPSolution`` with ``.cost`` (per period), ``.policy``, ``.states``.
    """
    tasks = _module("stocklab.baselines.exact.tasks", "optimal")
    return tasks.solve(env, tasks.limits_of(params))


def exact_cost(env: EnvConfig, policy: Policy) -> float | None:
    """Exact long-run average cost per period of ``policy`` (DP evaluation), or None.

    None when the DP cannot evaluate this instance or policy (see ``baselines.exact.tasks.policy_cost``).
    """
    try:
        return importlib.import_module("stocklab.baselines.exact.tasks").policy_cost(env, policy)
    except (ImportError, AttributeError):
        return None


class OptimalBuilder(Builder):
    """The exact DP optimum (``baselines.exact``), solved once per run and shared with the gap figures.

    ``params`` may set the DP's limits: ``max_states``, ``max_memory_gib``, ``time_limit`` (seconds).
    """

    def check(self, env: EnvConfig, spec: PolicyConfig, deep: bool = False) -> None:
        """Check the limits in ``params`` and that the DP fits them (counted, not built)."""
        tasks = _module("stocklab.baselines.exact.tasks", spec.kind)
        try:
            limits = tasks.limits_of(spec.params)
        except ConfigError as exc:
            raise ConfigError(f"params: {exc}") from None
        tasks.check_dp(env, limits)

    def build(self, ctx: BuildContext) -> Built:
        """The optimal policy: the run's solved optimum, or solved here within the entry's limits."""
        sol = ctx.optimum if ctx.optimum is not None else solve_optimum(ctx.env, ctx.spec.params)
        info = {"method": "solved", "optimal_cost": float(sol.cost)}
        for key in ("states", "seconds"):
            if getattr(sol, key, None) is not None:
                info[key] = getattr(sol, key)
        return Built(sol.policy, {}, info)


# -------------------------------------------------------------------------------------------- registry
_BUILDERS: dict[str, Builder] = {}


def builder(kind: str) -> Builder:
    """The builder of a policy kind (agents' builders are imported on first use)."""
    if not _BUILDERS:
        from stocklab.experiments.run.agent_builders import AgentBuilder

        classic = ClassicBuilder()
        _BUILDERS.update(
            dict.fromkeys(
                ("base_stock", "ss", "rq", "constant", "newsvendor", "capped_base_stock", "lp"), classic
            )
        )
        _BUILDERS["optimal"] = OptimalBuilder()
        _BUILDERS.update(dict.fromkeys(AGENT_KINDS, AgentBuilder()))
    return _BUILDERS[kind]


def check_policies(cfg: ExperimentConfig, deep: bool = False) -> None:
    """Check every policy entry against its kind and the env; ConfigError names ``policies[i]``.
    ``deep`` adds the checks that import torch (SB3 hyper-parameters).
    """
    for i, spec in enumerate(cfg.policies):
        try:
            builder(spec.kind).check(cfg.env, spec, deep)
        except StocklabError as exc:
            where = f"policies[{i}] ({spec.name})"
            if spec.params and spec.kind != "optimal":
                where += ".params"
            raise ConfigError(f"{where}: {exc}") from None
