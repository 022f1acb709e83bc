"""CLI commands: `stocklab run` and `stocklab report`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stocklab.experiments.cli.common import err, fail, print_json
from stocklab.experiments.cli.common import out as console


def run(
    config: Annotated[Path, typer.Argument(help="Experiment config (YAML).")],
    out: Annotated[Path, typer.Option("--out", help="Folder of runs; results go to OUT/<name>/.")] = Path(
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
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by `stocklab run` (runs/<name>).")],
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
    from rich.table import Table

    table = Table(
        title=f"{summary['experiment']}: {summary['episodes']} episodes x {summary['periods']} periods"
    )
    for col in ("policy", "avg cost / period", "95% CI", "gap % to optimum", "fill rate"):
        table.add_column(col, justify="left" if col == "policy" else "right")
    for name, r in summary["policies"].items():
        gap = "–" if r["gap_pct"] is None else f"{r['gap_pct']:.2f}"
        table.add_row(name, f"{r['avg_cost']:.3f}", f"± {r['ci95']:.3f}", gap, f"{r['fill_rate']:.4f}")
    console.print(table)
