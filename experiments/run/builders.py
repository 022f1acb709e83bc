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
def dp_instance(env: EnvConfig, kind: str = "optimal") -> Any:
    """The DP instance of ``env`` (``baselines.dp.DPInstance``); ConfigError when out of scope."""
    dp = _module("stocklab.baselines.exact.solver", kind)
    return _attr(dp, "DPInstance", kind).from_config(env)


def solve_optimum(env: EnvConfig) -> Any:
    """Solve the DP of ``env``: a ``DPSolution`` with ``.cost`` (per period), ``.policy``, ``.states``."""
    dp = _module("stocklab.baselines.exact.solver", "optimal")
    return _attr(dp, "solve_optimal", "optimal")(dp_instance(env))


#: Exact evaluation follows the states a policy reaches; a policy that lets stock drift without bound
#: (a constant order equal to mean demand) reaches ever more, so the search stops at this many states
#: (or 20 times the optimum's state space, if larger) and the gap is simulated instead.
EXACT_EVAL_STATES = 5_000


def exact_cost(env: EnvConfig, policy: Policy) -> float | None:
    """Exact long-run average cost per period of ``policy`` (DP evaluation), or None when the DP
    cannot evaluate this instance or policy.
    """
    try:
        dp = importlib.import_module("stocklab.baselines.exact.solver")
        n = dp.DPInstance.from_config(env).n_states
        inst = dp.DPInstance.from_config(env, max_states=min(max(EXACT_EVAL_STATES, 20 * n), 200_000))
        return float(dp.evaluate_policy(inst, policy))
    except (ImportError, AttributeError, StocklabError):
        return None


class OptimalBuilder(Builder):
    """The exact DP optimum (``baselines.dp``), solved once per run and shared with the gap figures."""

    def check(self, env: EnvConfig, spec: PolicyConfig, deep: bool = False) -> None:
        if spec.params:
            raise ConfigError(f"optimal takes no params (got {spec.params!r})")
        _attr(_module("stocklab.baselines.exact.solver", spec.kind), "solve_optimal", spec.kind)
        dp_instance(env)

    def build(self, ctx: BuildContext) -> Built:
        sol = ctx.optimum if ctx.optimum is not None else solve_optimum(ctx.env)
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
