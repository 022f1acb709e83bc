"""CLI command: `stocklab train` (one learning agent of a config, evaluated and ready to export)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from stocklab.experiments.cli.common import err, fail, out, print_json


def train(
    config: Annotated[Path, typer.Argument(help="Experiment config (YAML).")],
    policy: Annotated[str, typer.Option("--policy", help="Name of a learning policy in the config.")],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder of runs; the run goes to OUT/NAME-POLICY/.")
    ] = Path("runs"),
    steps: Annotated[int | None, typer.Option(min=1, help="Env steps (default: train.steps).")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override KEY=VALUE.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Train one learning agent of a config, evaluate it, and write a run folder `export` reads.

    The agent trains as in `stocklab run` (same seeds, learning curve, best policy kept), is evaluated
    on the config's evaluation episodes and compared with the DP optimum where the env allows. The
    folder `OUT/NAME-POLICY/` is a run of that one policy: `stocklab export OUT/NAME-POLICY
    --policy NAME --out DIR` exports it. Running the same command again reuses a finished
    training, and goes on from the latest checkpoint of one cut short (to the same result, bit for
    bit, as if it had not been interrupted).
    """
    from stocklab.envs.core.errors import StocklabError
    from stocklab.experiments.run.runner import RunOptions, run_experiment

    try:
        cfg = _one_policy(config, policy, steps, set_)
        root = run_experiment(cfg, RunOptions(out=out_dir, jobs=1, progress=not quiet))
    except StocklabError as exc:
        fail(exc)
    except KeyboardInterrupt:
        err.print("interrupted: run the same command again to go on from the latest checkpoint")
        raise typer.Exit(code=130) from None
    _report(root, policy, as_json)


def _one_policy(config: Path, policy: str, steps: int | None, set_: list[str] | None) -> Any:
    """The config reduced to its learning policy ``policy`` (ConfigError when there is none)."""
    from stocklab.envs.core.errors import ConfigError
    from stocklab.experiments.config import load_config, parse_config
    from stocklab.experiments.kinds import REGISTRY

    cfg = load_config(config, set_)
    learners = REGISTRY.names("agent")
    spec = next((p for p in cfg.policies if p.name == policy), None)
    if spec is None or spec.kind not in learners:
        names = [p.name for p in cfg.policies if p.kind in learners]
        raise ConfigError(f"--policy {policy!r}: no learning policy of that name; choose from {names}")
    data = cfg.model_dump(mode="json", by_alias=True, exclude_unset=True)
    entry = next(p for p in data["policies"] if p["name"] == policy)
    if steps is not None:
        entry.setdefault("train", {})["steps"] = steps
    data["policies"] = [entry]
    data["name"] = f"{cfg.name}-{policy}"
    return parse_config(data, base_dir=str(config.parent))


def _report(root: Path, policy: str, as_json: bool) -> None:
    """Print what the trained policy costs and where it is."""
    import json

    summary = json.loads((root / "summary.json").read_text())
    row = summary["policies"][policy]
    record = json.loads((root / "policies" / policy / "record.json").read_text())
    result = {
        "policy": policy, "kind": row["kind"], "run": str(root), "steps": record["info"].get("steps"),
        "train_seconds": record["info"].get("train_seconds"), "avg_cost": row["avg_cost"],
        "ci95": row["ci95"], "exact_cost": row.get("exact_cost"), "optimum": (summary.get("optimum") or {}).get("cost"),
        "gap_pct": row.get("gap_pct"), "gap_method": row.get("gap_method"),
        "export": f"stocklab export {root} --policy {policy} --out <new folder>",
    }  # fmt: skip
    if as_json:
        print_json(result)
        return
    cost = f"{row['avg_cost']:.3f} per period" + (f" ± {row['ci95']:.3f}" if row.get("ci95") else "")
    out.print(
        f"{policy} ({row['kind']}): {result['steps']:,} steps in {result['train_seconds']:.1f} s",
        highlight=False,
    )
    out.print(
        f"evaluation: {cost} ({summary['episodes']} episodes x {summary['periods']} periods)", highlight=False
    )
    if row.get("gap_pct") is not None:
        out.print(
            f"gap to the DP optimum ({result['optimum']:.4f}): {row['gap_pct']:.2f} % ({row['gap_method']})",
            highlight=False,
        )
    out.print(f"run folder: {root}  (report.html inside)", highlight=False, soft_wrap=True)
    out.print(f"export it: {result['export']}", highlight=False, soft_wrap=True)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add this module's command to the ``stocklab`` app."""
    app.command()(train)
