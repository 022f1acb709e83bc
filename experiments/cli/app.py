"""The ``stocklab`` command line (typer). User errors print one message and exit with code 2.

Commands of each topic live in their own module and register themselves here; each imports what it
needs inside the command, so that ``stocklab --help`` starts fast.
"""

from __future__ import annotations

import atexit
import importlib
import os
import sys

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
    "catalogue",
    "catalogue_bench",
):
    importlib.import_module(f"stocklab.experiments.cli.{_module}").register(app, bench_app)


#: Commands that write nothing but their answer on stdout/stderr (and every --help): they may leave
#: without Python's teardown of the module graph (pydantic's schemas, numpy), a fifth of a second
#: that would otherwise be a fifth of their whole run.
_QUICK_EXIT = {"validate"}


def main() -> None:
    """Console-script entry point."""
    args = sys.argv[1:]
    if not (args and (args[0] in _QUICK_EXIT or "--help" in args or "-h" in args)):
        app()
        return
    try:
        app()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, int | None):
            print(exc.code, file=sys.stderr)
    atexit._run_exitfuncs()  # what exit would run (none of these commands registers anything today)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
