"""The ``stocklab`` command line (typer): one module per topic, registered by :mod:`.app`."""

from stocklab.experiments.cli.app import app, main

__all__ = ["app", "main"]
