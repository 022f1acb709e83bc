"""CLI commands: `stocklab train` (one learning agent of a config) and `stocklab bench optimality`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stocklab.experiments.cli.common import fail, out, print_json


def train(
    config: Annotated[Path, typer.Argument(help="Experiment config (YAML).")],
    policy: Annotated[str, typer.Option("--policy", help="Name of a learning policy in the config.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the trained agent.")],
    steps: Annotated[int | None, typer.Option(min=1, help="Env steps (default: train.steps).")] = None,
    progress: Annotated[bool, typer.Option(help="Progress bar (only on a terminal).")] = True,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override KEY=VALUE.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Train one learning agent of a config (q_learning, sarsa, ppo, a2c, dqn) and save it.

    The agent is saved to --out/agent (resumable; stocklab.agents.factory.load_policy reads it);
    checkpoints and TensorBoard logs go beside it.
    """
    from stocklab.agents.factory import train_agent
    from stocklab.envs.core.errors import ConfigError, StocklabError
    from stocklab.experiments.config import load_config
    from stocklab.experiments.kinds import REGISTRY

    try:
        cfg = load_config(config, set_)
        spec = next((p for p in cfg.policies if p.name == policy), None)
        learners = REGISTRY.names("agent")
        if spec is None or spec.kind not in learners:
            names = [p.name for p in cfg.policies if p.kind in learners]
            raise ConfigError(f"--policy {policy!r}: no learning policy of that name; choose from {names}")
        t = spec.train
        budget = steps or t.steps
        if budget is None:
            raise ConfigError(f"policies.{policy}.train.steps: required (or pass --steps)")
        result = train_agent(
            spec.kind, cfg.env, budget, spec.hyperparams, seed=t.seed or 0, eval_every=t.eval_every,
            episodes=t.episodes, periods=t.periods, patience=t.patience, run_dir=out_dir,
            progress_bar=progress,
        )  # fmt: skip
        saved = result.agent.save(out_dir / "agent")  # resumable; load_policy reads it too
    except StocklabError as exc:
        fail(exc)
    summary = {
        "policy": policy, "kind": spec.kind, "steps": result.steps, "seconds": result.seconds,
        "steps_per_s": result.steps / max(result.seconds, 1e-9), "saved": str(saved),
        "evaluations": [{"step": s, "cost": c} for s, c in result.evaluations],
    }  # fmt: skip
    if as_json:
        print_json(summary)
        return
    out.print(f"{policy} ({spec.kind}): {result.steps:,} steps in {result.seconds:.1f} s -> {saved}")
    if result.evaluations:
        best = min(result.evaluations, key=lambda e: e[1])
        out.print(f"best evaluation: {best[1]:.4f} per period at step {best[0]:,}")


def bench_optimality(
    agents: Annotated[str, typer.Option(help="Comma-separated agents.")] = "q_learning,sarsa,ppo",
    steps: Annotated[int, typer.Option(min=1, help="Training env steps of tabular agents.")] = 5_000_000,
    ppo_minutes: Annotated[float, typer.Option(min=0.01, help="Wall minutes of SB3 training.")] = 20.0,
    instances: Annotated[str, typer.Option(help="Comma-separated instances: L1, L2.")] = "L1,L2",
    seed: Annotated[int, typer.Option(help="Training seed.")] = 0,
    throughput_steps: Annotated[
        int, typer.Option(min=1000, help="Periods of the tabular throughput measurement.")
    ] = 100_000,
    progress: Annotated[bool, typer.Option(help="Progress bars (only on a terminal).")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Exact long-run cost of agents trained on Zipkin's lost-sales instances vs the DP optimum.

    The instances: Poisson 5, h 1, p 9, L 1 and 2.
    """
    from rich.table import Table

    from stocklab.envs.core.errors import StocklabError
    from stocklab.experiments.bench.optimality import run_optimality

    try:
        records = run_optimality(
            [a.strip() for a in agents.split(",") if a.strip()], steps=steps, ppo_minutes=ppo_minutes,
            instances=[i.strip() for i in instances.split(",") if i.strip()], seed=seed, progress_bar=progress,
            throughput_steps=throughput_steps,
        )  # fmt: skip
    except StocklabError as exc:
        fail(exc)
    if as_json:
        print_json(records)
        return
    table = Table(title="Optimality gap (exact policy evaluation vs DP optimum, cost per period)")
    for col in ("agent", "instance", "optimal", "cost", "gap %", "env steps", "seconds", "steps/s"):
        table.add_column(col, justify="left" if col in ("agent", "instance") else "right")
    for r in records:
        table.add_row(
            r["agent"], r["instance"], f"{r['optimal_cost']:.4f}", f"{r['cost']:.4f}", f"{r['gap_pct']:.2f}",
            f"{r['steps']:,}", f"{r['seconds']:.0f}", f"{r['steps'] / max(r['seconds'], 1e-9):,.0f}",
        )  # fmt: skip
    out.print(table)
    loops = [r for r in records if "loop_steps_per_s" in r]
    for r in loops:
        out.print(
            f"{r['agent']} {r['instance']} throughput: training {r['steps_per_s']:,.0f} steps/s; "
            f"env.step alone {r['env_steps_per_s']:,.0f}/s; learning loop alone {r['loop_steps_per_s']:,.0f}/s"
        )


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add this module's commands to the ``stocklab`` app (and its ``bench`` group)."""
    app.command()(train)
    bench_app.command("optimality")(bench_optimality)
