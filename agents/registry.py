"""The policy kinds of stocklab.agents: tabular Q-learning / SARSA and Stable-Baselines3 algorithms.

Each agent trains for ``train.steps`` env steps from the policy's training seed, scores its greedy
policy every ``train.eval_every`` steps on ``train.episodes`` x ``train.periods`` periods of
training-evaluation seeds (never the run's evaluation seeds; the scores are the learning curve),
keeps the best policy, and saves it into the policy's folder (``policy/``; TensorBoard logs of SB3
agents in ``tensorboard/``), from which :meth:`AgentKind.load` reads it back. torch and
stable_baselines3 are imported only when an SB3 agent is checked deeply, built or loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from stocklab.envs.core.errors import ConfigError
from stocklab.envs.core.kinds import BuildContext, Built, PolicyKind, PolicySpec

if TYPE_CHECKING:
    from stocklab.envs.config import EnvConfig
    from stocklab.envs.core.policy import Policy

# The kinds import their implementations (and torch, for SB3) when used: reading the registry stays
# cheap.

#: Training-time evaluation defaults: evaluations per training run, episodes and periods per evaluation.
EVALUATIONS = 10
EVAL_EPISODES = 4
EVAL_PERIODS = 1000
#: Resumable checkpoints written over a training (see stocklab.agents.resume).
CHECKPOINTS = 20


class AgentKind(PolicyKind):
    """A learning agent: trained on ``train.steps`` env steps, reloaded from its saved files."""

    family = "agent"
    trainable = True

    def __init__(self, name: str, summary: str, *, tabular: bool) -> None:
        self.name, self.summary, self.tabular = name, summary, tabular
        self.export = "table" if tabular else "onnx"
        # Deep RL first, then tabular: the longest builds start first and overlap with the short ones.
        self.build_priority = 1 if tabular else 0

    @property
    def hyperparams_model(self) -> type[BaseModel] | None:  # type: ignore[override]
        """The tabular agents' model; SB3 algorithms validate theirs against the algorithm (deep check)."""
        if not self.tabular:
            return None
        from stocklab.agents.tabular.agent import TabularHyperparams

        return TabularHyperparams

    def check(self, env: EnvConfig, spec: PolicySpec, deep: bool = False) -> None:
        """A training budget is required; hyper-parameters are checked (SB3's only with ``deep``)."""
        if spec.train.steps is None:
            raise ConfigError(f"{spec.kind} needs train.steps (environment steps of training), e.g. 100000")
        if self.tabular:
            from stocklab.agents.tabular.agent import TABULAR_AGENTS

            TABULAR_AGENTS[self.name](env, spec.hyperparams, seed=0)  # validates hyperparams and discretiser
            return
        if not deep:
            return
        from stocklab.agents.sb3.hyperparams import check_without_torch

        if check_without_torch(self.name, spec.hyperparams):
            return  # decided from SB3's source: no torch import, so `validate` stays fast
        from stocklab.agents.sb3.agent import algorithm_kwargs
        from stocklab.agents.sb3.policy import algorithm_class

        algorithm_kwargs(algorithm_class(self.name), spec.hyperparams)

    def build(self, ctx: BuildContext) -> Built:
        """Train the agent, keep its best evaluated policy, save it under ``policy/``."""
        from stocklab.agents.factory import save_policy, train_agent
        from stocklab.agents.resume import ResumePoint

        spec, t = ctx.spec, ctx.spec.train
        steps = int(t.steps or 0)
        episodes = t.episodes or EVAL_EPISODES
        ctx.progress(0, steps)
        # a run cut short goes on from its latest checkpoint (one per twentieth of training)
        resume = ResumePoint(ctx.workdir / "resume", ctx.unit_hash, max(steps // CHECKPOINTS, 1))
        result = train_agent(
            self.name, ctx.env, steps, spec.hyperparams, seed=ctx.seed,
            eval_every=t.eval_every or max(steps // EVALUATIONS, 1), episodes=episodes,
            periods=t.periods or EVAL_PERIODS, eval_seed=ctx.scenario_seed(episodes, base=ctx.seeds(1)[0]),
            patience=t.patience, run_dir=ctx.workdir, max_seconds=t.seconds,
            resume=resume if ctx.unit_hash else None,
        )  # fmt: skip
        ctx.progress(steps, steps)
        save_policy(result.policy, ctx.workdir / "policy")
        if ctx.unit_hash:
            resume.clear()
        curve = [
            {"step": s, "value": c, "metric": "avg cost, training evaluation"} for s, c in result.evaluations
        ]
        info: dict[str, Any] = {
            "method": "trained",
            "steps": result.steps,
            "train_seconds": round(result.seconds, 3),
        }
        if result.evaluations:
            best = min(result.evaluations, key=lambda e: e[1])
            info |= {"best_at_step": best[0], "best_training_eval_cost": best[1]}
        return Built(result.policy, {}, info, curve)

    def load(self, ctx: BuildContext, record: dict[str, Any]) -> Policy:
        """The trained policy from ``policy/`` (no pickle: npz + JSON, or SB3 tensors + JSON)."""
        from stocklab.agents.factory import load_policy

        return load_policy(ctx.workdir / "policy")


#: Every kind of this package, in the order listings show them.
KINDS: tuple[PolicyKind, ...] = (
    AgentKind("q_learning", "tabular Q-learning (average or discounted reward)", tabular=True),
    AgentKind("sarsa", "tabular SARSA (average or discounted reward)", tabular=True),
    AgentKind("ppo", "Stable-Baselines3 PPO", tabular=False),
    AgentKind("a2c", "Stable-Baselines3 A2C", tabular=False),
    AgentKind("dqn", "Stable-Baselines3 DQN", tabular=False),
)
