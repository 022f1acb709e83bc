"""Resource limits of the exact computations: states, memory and wall-clock time.

The DP counts its states and estimates its peak memory before it allocates anything
(:func:`stocklab.baselines.exact.space.estimate_size`) and refuses, with the estimate and the limit,
an instance that does not fit (:class:`ResourceLimitError`). Long loops (value iteration, the
enumeration of a policy's chain, power iteration) check a :class:`Deadline` and stop with
:class:`TimeLimitError` when it has passed.

The default memory limit is :data:`MEMORY_FRACTION` of the memory available when the limit is first
asked for (``MemAvailable`` of ``/proc/meminfo`` on Linux, else the physical memory), so that the DP
leaves room for the rest of a run (evaluation workers, the other policies' training).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stocklab.envs.core.errors import ConfigError, StocklabError

#: Default limit on the number of DP states.
MAX_STATES = 500_000
#: Share of the available memory the DP may use by default.
MEMORY_FRACTION = 0.5
#: Memory assumed available when the machine does not say (bytes).
FALLBACK_MEMORY = 8 * 2**30
GIB = 2**30


class ResourceLimitError(ConfigError):
    """The exact DP of a config needs more states or memory than allowed (the message gives both)."""


class TimeLimitError(StocklabError):
    """A computation ran past its time limit."""


def available_memory() -> int:
    """Memory available to a new allocation (bytes).

    ``MemAvailable`` of ``/proc/meminfo`` on Linux, else the physical memory (``os.sysconf``), else
    :data:`FALLBACK_MEMORY`.
    """
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return FALLBACK_MEMORY


def default_max_bytes() -> int:
    """The default memory limit of the DP: :data:`MEMORY_FRACTION` of :func:`available_memory`."""
    return int(MEMORY_FRACTION * available_memory())


def gib(n_bytes: float) -> str:
    """``n_bytes`` in GiB for messages, e.g. ``'3.57 GiB'``."""
    return f"{n_bytes / GIB:.3g} GiB"


@dataclass(frozen=True)
class DPLimits:
    """How big an exact DP may get and how long it may run.

    ``max_states`` states, ``max_bytes`` bytes of estimated peak memory (None:
    :func:`default_max_bytes`), and ``time_limit`` seconds of solving (None: no limit).
    """

    max_states: int = MAX_STATES
    max_bytes: int | None = None
    time_limit: float | None = None

    #: Keys of a config's ``optimal`` entry ``params`` that set these limits, and their meaning.
    PARAMS = {
        "max_states": "DP states (default 500,000)",
        "max_memory_gib": "GiB of estimated peak memory (default: half the available memory)",
        "time_limit": "seconds of solving (default: none)",
    }

    def __post_init__(self) -> None:
        if self.max_states < 1:
            raise ConfigError(f"max_states (={self.max_states}) must be >= 1")
        if self.max_bytes is not None and self.max_bytes < 1:
            raise ConfigError(f"max_memory (={self.max_bytes} bytes) must be > 0")
        if self.time_limit is not None and not self.time_limit > 0:
            raise ConfigError(f"time_limit (={self.time_limit} s) must be > 0")

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> DPLimits:
        """Limits from a config entry's ``params`` (:attr:`PARAMS` keys); ConfigError naming the key."""
        unknown = sorted(set(params) - set(cls.PARAMS))
        if unknown:
            allowed = "; ".join(f"{k}: {v}" for k, v in cls.PARAMS.items())
            raise ConfigError(f"unknown key(s) {unknown}; allowed: {allowed}")
        for key, value in params.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigError(f"{key} (={value!r}) must be a number > 0 ({cls.PARAMS[key]})")
        if "max_states" in params and params["max_states"] != int(params["max_states"]):
            raise ConfigError(f"max_states (={params['max_states']!r}) must be a whole number")
        gib_limit = params.get("max_memory_gib")
        return cls(
            max_states=int(params.get("max_states", MAX_STATES)),
            max_bytes=None if gib_limit is None else int(gib_limit * GIB),
            time_limit=None if params.get("time_limit") is None else float(params["time_limit"]),
        )

    def memory_limit(self) -> int:
        """The memory limit in bytes (the default when none was set)."""
        return default_max_bytes() if self.max_bytes is None else self.max_bytes

    def describe_memory(self) -> str:
        """The memory limit and where it comes from, for messages."""
        limit = self.memory_limit()
        if self.max_bytes is not None:
            return gib(limit)
        return f"{gib(limit)} (default: {MEMORY_FRACTION:.0%} of the {gib(available_memory())} available)"

    def deadline(self) -> Deadline | None:
        """A deadline :attr:`time_limit` seconds from now (None without a time limit)."""
        return Deadline.after(self.time_limit)


@dataclass(frozen=True)
class Deadline:
    """An instant (``time.monotonic()`` seconds) after which a long computation stops.

    Loops call :meth:`check` once per iteration; it costs one clock read.
    """

    at: float
    seconds: float

    @classmethod
    def after(cls, seconds: float | None) -> Deadline | None:
        """A deadline ``seconds`` from now, or None for no limit."""
        if seconds is None:
            return None
        return cls(time.monotonic() + seconds, seconds)

    def expired(self) -> bool:
        """Whether the deadline has passed."""
        return time.monotonic() > self.at

    def check(self, what: str) -> None:
        """Raise :class:`TimeLimitError` naming ``what`` when the deadline has passed."""
        if self.expired():
            raise TimeLimitError(f"{what}: stopped at the time limit of {self.seconds:g} s")

    def remaining(self) -> float:
        """Seconds left (negative once passed)."""
        return self.at - time.monotonic()


def check_deadline(deadline: Deadline | None, what: str) -> None:
    """:meth:`Deadline.check` when there is a deadline."""
    if deadline is not None:
        deadline.check(what)
