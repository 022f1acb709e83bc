"""CLI commands: `stocklab run` and `stocklab report`."""

from __future__ import annotations

import json
import sys
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
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs", min=1, help="Parallel worker processes (with --executor ray: the local cluster's CPUs)."
        ),
    ] = None,
    executor: Annotated[
        str, typer.Option("--executor", help="Where units run: local (--jobs processes) or ray.")
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option("--address", help="Ray cluster to join (HOST:PORT); default: a local one."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Train / tune every policy, evaluate all on common random numbers, write results and a report.

    Re-running the same command resumes an interrupted run: finished units are not redone. A config
    with a ``sweep`` section runs once per combination of its values and prints one comparison.
    """
    from stocklab.envs.core.errors import StocklabError
    from stocklab.experiments.run.ray_executor import UnitFailed
    from stocklab.experiments.run.runner import RunOptions, run_from_file
    from stocklab.experiments.run.sweep import has_sweep, run_sweep

    opts = RunOptions(out=out, jobs=jobs or 1, executor=executor, address=address, progress=not quiet)
    if executor == "ray":
        opts.cpus = jobs  # None: the machine's cores
    try:
        if config.is_file() and has_sweep(config):
            opts.command = ["stocklab", *sys.argv[1:]]
            sweep_root, table = run_sweep(config, set_, opts)
            _print_sweep(sweep_root, table, as_json)
            return
        root = run_from_file(config, set_, opts)
    except StocklabError as exc:
        fail(exc)
    except UnitFailed as exc:
        err.print(f"error: {exc}; run the same command again to retry (finished work is kept)")
        raise typer.Exit(code=1) from None
    except KeyboardInterrupt:
        err.print("interrupted: run the same command again to resume (finished work is kept)")
        raise typer.Exit(code=130) from None
    if (root / "catalogue_summary.json").is_file():
        _catalogue_summary(root, as_json)
        return
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
        if (run_dir / "catalogue_run.json").is_file():
            from stocklab.experiments.analysis.catalogue.report import rebuild as rebuild_catalogue

            path = rebuild_catalogue(run_dir)
        else:
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


def _catalogue_summary(root: Path, as_json: bool) -> None:
    """Print a catalogue run's results table (or its summary as JSON)."""
    import json

    from rich.table import Table

    s = json.loads((root / "catalogue_summary.json").read_text())
    if as_json:
        print_json(s)
        return
    bound = s.get("bound") or {}
    title = (
        f"{s['experiment']}: {s['catalogue']['skus']} SKUs, {s['episodes']} episodes x {s['periods']} periods"
    )
    table = Table(title=title)
    for col in ("policy", "cost / period", "gap % to bound", "fill rate", "within capacity"):
        table.add_column(col, justify="left" if col == "policy" else "right")
    for name, k in s["policies"].items():
        gap = "–" if k.get("gap_pct") is None else f"{k['gap_pct']:.2f}"
        cap = "–" if k.get("within_capacity") is None else f"{k['within_capacity']:.4f}"
        table.add_row(name, f"{k['cost']:.3f}", gap, f"{k['fill_rate']:.4f}", cap)
    console.print(table)
    if bound.get("applies"):
        console.print(f"lower bound: {bound['value']:.3f} per period; best: {s['best']}")
    else:
        console.print(f"no lower bound: {bound.get('why_not')}; best: {s['best']}")
    console.print(
        f"report: {root / 'report.html'}  (also report.md, catalogue_summary.json, catalogue_episodes.csv)"
    )


def _print_sweep(root: Path, table, as_json: bool) -> None:  # noqa: ANN001 - a pandas DataFrame
    from rich.table import Table

    if as_json:
        print_json(json.loads((root / "sweep.json").read_text()))
        return
    out = Table(title=f"sweep {root.name}: mean cost per period, cheapest first")
    for col in ("rank", "setting", "policy", "mean cost / period", "95% CI", "CI over"):
        right = col in ("rank", "mean cost / period", "95% CI")
        out.add_column(col, justify="right" if right else "left", overflow="fold")
    for r in table.itertuples():
        out.add_row(str(r.rank), r.setting, r.policy, f"{r.mean_cost:.3f}", f"± {r.ci95:.3f}", r.ci_over)
    console.print(out)
    console.print(f"comparison: {root / 'sweep.csv'} (runs in {root / 'runs'})")


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
