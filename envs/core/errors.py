"""The one exception hierarchy of stocklab.

Every error a user can cause (a bad config value, a malformed data file, a tampered policy file, a bad
request) is a :class:`StocklabError`; the CLI prints its message and exits with code 2. Anything else
that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class StocklabError(Exception):
    """Base class of every error a user can cause and fix."""

    exit_code = 2


class ConfigError(StocklabError, ValueError):
    """A configuration value is missing, unknown or out of range.

    The message names the key path (``env.costs.holding``), the value and what is allowed.
    """


class DataError(StocklabError, ValueError):
    """A data file (sales history, state table) is missing or malformed."""


class PolicyError(StocklabError, ValueError):
    """A policy cannot be built, loaded or applied (bad parameters, tampered artefact, ...)."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest of ``choices``, or ``""`` when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""
