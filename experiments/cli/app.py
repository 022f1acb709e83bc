"""The ``stocklab`` command line (typer). User errors print one message and exit with code 2.

Commands of each topic live in their own module and register themselves here; each imports what it
needs inside the command, so that ``stocklab --help`` starts fast.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    help="stocklab: simulate, tune, train and compare inventory replenishment policies.",
)
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks (speed, optimality).")
app.add_typer(bench_app, name="bench")

for _module in (
    "simulate",
    "optimal",
    "tune",
    "agents",
    "demand",
    "run",
    "export",
    "deploy",
    "engine",
    "train",
):
    importlib.import_module(f"stocklab.experiments.cli.{_module}").register(app, bench_app)


def main() -> None:
    """Console-script entry point."""
    app()
