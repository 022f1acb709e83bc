"""Builder of learning agents for ``stocklab run``: tabular Q-learning / SARSA and SB3 algorithms, trained
through ``stocklab.agents.factory``.

Each agent trains for ``train.steps`` env steps from the policy's training seed, scores its greedy
policy every ``train.eval_every`` steps on ``train.episodes`` x ``train.periods`` of
training-evaluation seeds (never the run's evaluation seeds; the scores are the learning curve),
keeps the best policy, and saves it into the policy's artefact folder (``policy/``; TensorBoard logs
of SB3 agents in ``tensorboard/``), from which :meth:`AgentBuilder.load` reads it back. torch and
stable_baselines3 are imported by ``stocklab.agents`` modules only, when an SB3 agent is checked or
built.
"""

from __future__ import annotations

import inspect
from typing import Any

from stocklab.envs.config import EnvConfig
from stocklab.envs.core.errors import ConfigError
from stocklab.envs.core.policy import Policy
from stocklab.envs.core.seeding import episode_seeds
from stocklab.experiments.config import PolicyConfig
from stocklab.experiments.run.builders import BuildContext, Builder, Built, module_attr

#: Training-time evaluation defaults: evaluations per training run, episodes and periods per evaluation.
EVALUATIONS = 10
EVAL_EPISODES = 4
EVAL_PERIODS = 1000
FACTORY = "stocklab.agents.factory"


def _eval_seed(ctx: BuildContext, episodes: int) -> int:
    """Base seed of training-time evaluations, whose episode seeds avoid the run's evaluation seeds."""
    seed = ctx.seeds(1)[0]
    while set(episode_seeds(seed, episodes)) & ctx.eval_seeds:
        seed += 1
    return seed


class AgentBuilder(Builder):
    """q_learning, sarsa and SB3 algorithms (ppo, a2c, dqn) by ``kind``."""

    pickles = False

    def check(self, env: EnvConfig, spec: PolicyConfig, deep: bool = False) -> None:
        if spec.train.steps is None:
            raise ConfigError(f"{spec.kind} needs train.steps (environment steps of training), e.g. 100000")
        tabular = module_attr("stocklab.agents.tabular.agent", "TABULAR_AGENTS", spec.kind)
        module_attr(FACTORY, "train_agent", spec.kind)
        if spec.kind in tabular:
            tabular[spec.kind](env, spec.hyperparams, seed=0)  # validates hyperparams and the discretiser
            return
        if not deep:
            return  # the SB3 checks import torch: `stocklab run` runs them before any work
        algo = module_attr("stocklab.agents.sb3.policy", "algorithm_class", spec.kind)(spec.kind)
        module_attr("stocklab.agents.sb3.agent", "algorithm_kwargs", spec.kind)(algo, spec.hyperparams)

    def build(self, ctx: BuildContext) -> Built:
        spec = ctx.spec
        train_agent = module_attr(FACTORY, "train_agent", spec.kind)
        save_policy = module_attr(FACTORY, "save_policy", spec.kind)
        t = spec.train
        steps = int(t.steps or 0)
        episodes = t.episodes or EVAL_EPISODES
        kwargs: dict[str, Any] = {
            "seed": ctx.seed, "eval_every": t.eval_every or max(steps // EVALUATIONS, 1),
            "episodes": episodes, "periods": t.periods or EVAL_PERIODS, "eval_seed": _eval_seed(ctx, episodes),
            "patience": t.patience, "run_dir": ctx.workdir,
        }  # fmt: skip
        if "progress" in inspect.signature(train_agent).parameters:
            kwargs["progress"] = ctx.progress
        ctx.progress(0, steps)
        result = train_agent(spec.kind, ctx.env, steps, spec.hyperparams, **kwargs)
        ctx.progress(steps, steps)
        save_policy(result.policy, ctx.workdir / "policy")
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
        return module_attr(FACTORY, "load_policy", ctx.spec.kind)(ctx.workdir / "policy")
