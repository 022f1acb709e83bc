"""The policy kinds of stocklab.baselines: classic policies (given, default or tuned) and the DP optimum.

Each kind is declared here once (see :class:`stocklab.envs.core.kinds.PolicyKind`); the experiments
layer reads :data:`KINDS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stocklab.envs.core.errors import ConfigError
from stocklab.envs.core.kinds import BuildContext, Built, PolicyKind, PolicySpec

if TYPE_CHECKING:
    from stocklab.envs.config import EnvConfig
    from stocklab.envs.core.policy import Policy

# The kinds import their implementations when used: reading the registry (to validate a config's
# kind names, or list the kinds) stays cheap.

#: Default tuning budget per candidate when ``train.episodes`` / ``train.periods`` are left out.
TUNE_EPISODES = 10
TUNE_PERIODS = 1000


class ClassicKind(PolicyKind):
    """A classic policy: built from ``params`` when given; otherwise tuned, or its defaults used.

    Tuning (:func:`stocklab.baselines.tuning.search.tune`) is exact where theory allows, else a search
    simulated on training seeds with the budget ``train.episodes`` x ``train.periods``.
    """

    family = "classic"
    export = "params"

    def __init__(
        self, name: str, summary: str, *, tunable: bool = False, defaults: bool = False, priority: int = 3
    ) -> None:
        self.name, self.summary, self.tunable, self.build_priority = name, summary, tunable, priority
        #: Whether the policy works on its default parameters (used untuned when params are left out).
        self.defaults = defaults

    def check(self, env: EnvConfig, spec: PolicySpec, deep: bool = False) -> None:
        """Build the policy from its params (or check that the kind can be tuned without them)."""
        from stocklab.baselines.policies.classic import POLICIES, build_policy

        if spec.params or self.defaults:
            build_policy(self.name, env, spec.params)
            return
        if not self.tunable:
            needs = ", ".join(getattr(POLICIES[self.name], "REQUIRED", ()))
            tunable = ", ".join(k.name for k in KINDS if k.tunable)
            raise ConfigError(
                f"{self.name} is not tuned automatically: give params ({needs}); "
                f"kinds tuned when params are left out: {tunable}"
            )

    def build(self, ctx: BuildContext) -> Built:
        """Take the given params, the kind's defaults, or tune it on training scenarios."""
        from stocklab.baselines.policies.classic import build_policy
        from stocklab.baselines.tuning.search import tune

        spec = ctx.spec
        if spec.params or self.defaults:
            policy = build_policy(self.name, ctx.env, spec.params)
            return Built(policy, dict(spec.params), {"method": "given" if spec.params else "default"})
        episodes = spec.train.episodes or TUNE_EPISODES
        seed = ctx.scenario_seed(episodes)  # never tune on the evaluation scenarios
        result = tune(
            ctx.env, self.name, episodes=episodes, periods=spec.train.periods or TUNE_PERIODS, seed=seed,
            progress=lambda done, total: ctx.progress(done, total),
        )  # fmt: skip
        params = dict(result.params)
        info = {
            "method": "tuned", "tuning": result.method, "algorithm": result.algorithm,
            "tuning_avg_cost": result.avg_cost, "tuning_ci95": result.ci95,
            "evaluations": result.evaluations, "tuning_seed": seed,
        }  # fmt: skip
        return Built(build_policy(self.name, ctx.env, params), params, info)

    def rebuild(self, env: EnvConfig, params: dict[str, Any]) -> Policy:
        """The policy with the given parameters (PolicyError for bad ones)."""
        from stocklab.baselines.policies.classic import build_policy

        return build_policy(self.name, env, params)


class OptimalKind(PolicyKind):
    """The exact DP optimum, solved once per run (and shared with every policy's exact gap)."""

    name = "optimal"
    summary = "exact optimum of the dynamic programme (relative value iteration)"
    family = "exact"
    export = "dp_table"
    uses_optimum = True
    build_priority = 3

    def check(self, env: EnvConfig, spec: PolicySpec, deep: bool = False) -> None:
        """The env must be in the DP's scope and its DP within the limits ``params`` may set.

        ``params``: ``max_states``, ``max_memory_gib``, ``time_limit`` (seconds). The DP is counted,
        not built.
        """
        from stocklab.baselines.exact.tables import dp_instance, limits_of

        try:
            limits_of(spec.params)
        except ConfigError as exc:
            raise ConfigError(f"params: {exc}") from None
        dp_instance(env, spec.params)

    def build(self, ctx: BuildContext) -> Built:
        """Reuse the run's optimum (or solve it) and save its state table."""
        from stocklab.baselines.exact.tables import save_optimal, solve_optimum

        sol = (
            ctx.optimum if ctx.optimum is not None else solve_optimum(ctx.env, ctx.spec.params, ctx.progress)
        )
        save_optimal(sol.policy, ctx.workdir / "policy")
        info: dict[str, Any] = {"method": "solved", "optimal_cost": float(sol.cost)}
        for key in ("states", "seconds"):
            if getattr(sol, key, None) is not None:
                info[key] = getattr(sol, key)
        return Built(sol.policy, {}, info)

    def load(self, ctx: BuildContext, record: dict[str, Any]) -> Policy:
        """The optimal policy from its saved state table."""
        from stocklab.baselines.exact.tables import load_optimal

        return load_optimal(ctx.workdir / "policy", ctx.env)


#: Every kind of this package, in the order listings show them.
KINDS: tuple[PolicyKind, ...] = (
    ClassicKind("base_stock", "order up to S: q = max(0, S - IP)", tunable=True),
    ClassicKind("ss", "(s, S): order up to S when IP <= s", tunable=True),
    ClassicKind("rq", "(r, nQ): order multiples of Q when IP <= r", tunable=True),
    ClassicKind("constant", "order a constant quantity every period"),
    ClassicKind(
        "newsvendor", "order up to the critical-fractile quantile of lead-time demand", defaults=True
    ),
    ClassicKind("capped_base_stock", "base-stock with a cap on each order", tunable=True),
    ClassicKind("lp", "rolling-horizon LP on demand scenarios (HiGHS)", defaults=True, priority=2),
    OptimalKind(),
)
