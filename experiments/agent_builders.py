"""Builders of learning agents for ``stocklab run``: tabular Q-learning / SARSA and SB3 algorithms.

Each trains for ``train.steps`` env steps from the policy's training seed, scores the greedy policy
every ``train.eval_every`` steps on ``train.episodes`` x ``train.periods`` of training-evaluation
seeds (never the run's evaluation seeds; the scores are the learning curve), keeps the best policy,
and saves it into the policy's artefact folder, from which :meth:`load` reads it back. torch and
stable_baselines3 are imported by ``stocklab.agents`` modules only, when an SB3 agent is built.
"""

from __future__ import annotations

from typing import Any

from stocklab.envs.config import EnvConfig
from stocklab.envs.errors import ConfigError
from stocklab.envs.policy import Policy
from stocklab.envs.seeding import episode_seeds
from stocklab.experiments.config import PolicyConfig
from stocklab.experiments.policies import BuildContext, Builder, Built, module_attr

#: Training-time evaluation defaults: evaluations per run, episodes and periods per evaluation.
EVALUATIONS = 10
EVAL_EPISODES = 4
EVAL_PERIODS = 1000
TABULAR = {"q_learning": "QLearning", "sarsa": "Sarsa"}


def _eval_seed(ctx: BuildContext, episodes: int) -> int:
    """Base seed of training-time evaluations, whose episode seeds avoid the run's evaluation seeds."""
    seed = ctx.seeds(1)[0]
    while set(episode_seeds(seed, episodes)) & ctx.eval_seeds:
        seed += 1
    return seed


def _budget(spec: PolicyConfig) -> tuple[int, int, int, int]:
    t = spec.train
    steps = int(t.steps or 0)
    every = t.eval_every or max(steps // EVALUATIONS, 1)
    return steps, every, t.episodes or EVAL_EPISODES, t.periods or EVAL_PERIODS


def _require_steps(spec: PolicyConfig) -> None:
    if spec.train.steps is None:
        raise ConfigError(f"{spec.kind} needs train.steps (environment steps of training), e.g. 100000")


class TabularBuilder(Builder):
    """q_learning, sarsa (``stocklab.agents.tabular``); ``hyperparams`` are TabularHyperparams."""

    pickles = False

    def _cls(self, kind: str) -> Any:
        return module_attr("stocklab.agents.tabular", TABULAR[kind], kind)

    def check(self, env: EnvConfig, spec: PolicyConfig) -> None:
        _require_steps(spec)
        self._cls(spec.kind)(env, spec.hyperparams, seed=0)  # validates hyperparams and the discretiser

    def build(self, ctx: BuildContext) -> Built:
        from stocklab.agents.callbacks import EvalCallback, TabularCallback

        spec = ctx.spec
        steps, every, episodes, periods = _budget(spec)
        agent = self._cls(spec.kind)(ctx.env, spec.hyperparams, seed=ctx.seed)
        progress = ctx.progress

        class Report(TabularCallback):
            def _on_step(self) -> bool:
                progress(self.num_timesteps, steps)
                return True

        warmup = min(100, periods // 10)
        evaluator = EvalCallback(
            every, n_eval_episodes=episodes, eval_periods=periods, warmup=warmup,
            eval_seed=_eval_seed(ctx, episodes), patience=spec.train.patience,
        )  # fmt: skip
        agent.learn(steps, callback=[evaluator, Report()])
        agent.save(ctx.workdir / "agent")
        curve = [
            {"step": s, "value": c, "metric": "avg cost (training evaluation)"}
            for s, c in evaluator.evaluations
        ]
        info = {"method": "trained", "steps": agent.num_timesteps, "best_at_step": evaluator.best_timesteps,
                "best_training_eval_cost": evaluator.best_cost}  # fmt: skip
        return Built(agent, {}, info, curve)

    def load(self, ctx: BuildContext, record: dict[str, Any]) -> Policy:
        return self._cls(ctx.spec.kind).load(ctx.workdir / "agent")


class SB3Builder(Builder):
    """ppo, a2c, dqn (``stocklab.agents.sb3_agent.SB3Agent``); ``hyperparams`` in rl-zoo style."""

    pickles = False

    def check(self, env: EnvConfig, spec: PolicyConfig) -> None:
        _require_steps(spec)
        module_attr("stocklab.agents.sb3_agent", "SB3Agent", spec.kind)
        policy_mod = "stocklab.agents.sb3_policy"
        algo = module_attr(policy_mod, "algorithm_class", spec.kind)(spec.kind)
        module_attr("stocklab.agents.sb3_agent", "algorithm_kwargs", spec.kind)(algo, spec.hyperparams)

    def build(self, ctx: BuildContext) -> Built:
        spec = ctx.spec
        steps, every, episodes, periods = _budget(spec)
        cls = module_attr("stocklab.agents.sb3_agent", "SB3Agent", spec.kind)
        agent = cls(ctx.env, spec.kind, spec.hyperparams, seed=ctx.seed, torch_threads=1)
        try:
            ctx.progress(0, steps)
            agent.learn(
                steps, eval_freq=every, eval_episodes=episodes, eval_periods=periods,
                eval_seed=_eval_seed(ctx, episodes), patience=spec.train.patience,
            )  # fmt: skip
            ctx.progress(steps, steps)
            policy = agent.policy()
        finally:
            agent.close()
        policy.save(ctx.workdir / "policy")
        curve = [
            {"step": s, "value": c, "metric": "avg cost (training evaluation)"} for s, c in agent.evaluations
        ]
        info = {"method": "trained", "steps": agent.num_timesteps}
        if agent.evaluations:
            best = min(agent.evaluations, key=lambda e: e[1])
            info |= {"best_at_step": best[0], "best_training_eval_cost": best[1]}
        return Built(policy, {}, info, curve)

    def load(self, ctx: BuildContext, record: dict[str, Any]) -> Policy:
        return module_attr("stocklab.agents.sb3_policy", "SB3Policy", ctx.spec.kind).load(
            ctx.workdir / "policy"
        )
