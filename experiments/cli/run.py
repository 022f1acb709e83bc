"""CLI commands: `stocklab run` and `stocklab report`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stocklab.experiments.cli.common import err, fail, print_json
from stocklab.experiments.cli.common import out as console


def run(
    config: Annotated[Path, typer.Argument(help="Experiment config (YAML).")],
    out: Annotated[Path, typer.Option("--out", help="Folder of runs; results go to OUT/NAME/.")] = Path(
        "runs"
    ),
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override KEY=VALUE (YAML value).")] = None,
    jobs: Annotated[int, typer.Option("--jobs", min=1, help="Parallel worker processes.")] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Train / tune every policy, evaluate all on common random numbers, write results and a report.

    Re-running the same command resumes an interrupted run: finished units are not redone.
    """
    import json

    from stocklab.envs.core.errors import StocklabError
    from stocklab.experiments.run.runner import RunOptions, run_from_file

    try:
        root = run_from_file(config, set_, RunOptions(out=out, jobs=jobs, progress=not quiet))
    except StocklabError as exc:
        fail(exc)
    except KeyboardInterrupt:
        err.print("interrupted: run the same command again to resume (finished work is kept)")
        raise typer.Exit(code=130) from None
    summary = json.loads((root / "summary.json").read_text())
    if as_json:
        print_json(summary)
        return
    _print_summary(console, summary)
    console.print(f"report: {root / 'report.html'}  (also report.md, summary.json, episodes.csv)")


def report(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by `stocklab run` (runs/NAME).")],
) -> None:
    """Rebuild the summary, plots, report.md and report.html of a run from its saved results."""
    from stocklab.envs.core.errors import DataError, StocklabError
    from stocklab.experiments.analysis.report import rebuild

    try:
        if not run_dir.is_dir():
            raise DataError(f"{run_dir}: not a folder (give runs/<name> of a finished run)")
        path = rebuild(run_dir)
    except StocklabError as exc:
        fail(exc)
    console.print(f"report: {path}")


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add this module's commands to the ``stocklab`` app (and its ``bench`` group)."""
    app.command()(run)
    app.command()(report)


def _print_summary(console, summary: dict) -> None:  # noqa: ANN001 - a rich Console
    """The answer first (best policy, gap, runner-up's paired difference), then the table."""
    from rich.table import Table

    h = summary.get("headline")
    if h:
        console.print(_headline_line(h), soft_wrap=True)
    table = Table(
        title=f"{summary['experiment']}: {summary['episodes']} episodes x {summary['periods']} periods"
    )
    for col in ("policy", "avg cost / period", "95% CI", "gap % to optimum", "fill rate"):
        table.add_column(col, justify="left" if col == "policy" else "right")
    for name, r in summary["policies"].items():
        gap = "–" if r["gap_pct"] is None else f"{r['gap_pct']:.2f}"
        ci = "–" if r["episodes"] < 2 or r["ci95"] is None else f"± {r['ci95']:.3f}"  # no CI from one episode
        table.add_row(name, f"{r['avg_cost']:.3f}", ci, gap, f"{r['fill_rate']:.4f}")
    console.print(table)


def _headline_line(h: dict) -> str:
    """One line: the best policy, its gap to the optimum, the runner-up and their paired difference."""
    gap = "" if h["best_gap_pct"] is None else f", {h['best_gap_pct']:.2f}% above the DP optimum"
    text = f"best: {h['best']} ({h['best_cost']:.3f} per period{gap})"
    if h["runner_up"] is None:
        return text
    text += f"; runner-up {h['runner_up']} costs {h['diff']:+.3f} per period"
    if h["significant"] is None:
        return text + " (one episode: no confidence interval)"
    verdict = "significant" if h["significant"] else "not significant"
    return text + f" (paired 95% CI {h['diff_low']:+.3f} to {h['diff_high']:+.3f}, {verdict})"
