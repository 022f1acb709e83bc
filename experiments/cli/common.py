"""What every CLI command shares: the consoles, the ``--json`` option, and how a user error ends."""

from __future__ import annotations

import sys
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from stocklab.envs.core.errors import StocklabError
from stocklab.envs.core.storage import to_json

out = Console()
err = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")]


def fail(exc: StocklabError) -> NoReturn:
    """Print a user error as one message and exit with its code (2): tracebacks are for bugs only."""
    err.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code=exc.exit_code)


def print_json(data: Any) -> None:
    """Print ``data`` as indented, strict JSON on stdout (NaN and infinities as null)."""
    sys.stdout.write(to_json(data) + "\n")
