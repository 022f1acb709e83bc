"""The Ray executor: every unit of a run is a Ray task, on a local cluster or on one the user runs.

Ray core only (never RLlib, which pins an older gymnasium). Each unit declares the CPUs it needs
(one: units limit BLAS / torch to one thread), is retried once when it raises, and is then reported
by its name. Arguments shared by many units (the config with its sales history or demand matrix,
the evaluation seeds) go into the object store once (``ray.put``) and every task reads them from
there. Units write their files into the run folder, so on a cluster of several machines the run
folder (``--out``) must be on a file system every node mounts at the same path.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import weakref
from collections.abc import Callable, Hashable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

from stocklab.envs.core.errors import ConfigError
from stocklab.experiments.run.progress import ProgressBoard

#: CPUs each unit declares to Ray's scheduler.
UNIT_CPUS = 1
#: Retries of a unit that raised, before the run stops and names it.
UNIT_RETRIES = 1
#: Seconds to wait for a cluster's head to accept a connection before giving up.
CONNECT_TIMEOUT = 3.0

#: Argument types small enough to travel with each task instead of through the object store.
_INLINE = (int, float, str, bool, bytes, type(None), os.PathLike)


#: Ray executors alive in this process (a sweep runs several at once).
_LIVE: weakref.WeakSet[Any] = weakref.WeakSet()
#: Set by :func:`cancel_all`: executors then refuse new units (runs of a sweep still starting).
CANCELLED = threading.Event()


class UnitFailed(RuntimeError):
    """A unit raised on every attempt; the message names the unit and the last error."""


def unit_label(key: Hashable) -> str:
    """A unit's name for people: ``build of policy 'ppo'``, ``evaluation of policy 'bs'``, ..."""
    if isinstance(key, tuple) and len(key) == 2:
        what, name = key
        if what == "optimum":
            return "DP optimum"
        return f"{ {'build': 'build', 'eval': 'evaluation'}.get(what, what) } of policy {name!r}"
    return repr(key)


def _noop(done: float, total: float | None = None) -> None:
    """Progress sink inside Ray workers: bars advance when units finish."""


def _run_unit(fn: Callable[..., Any], *args: Any) -> Any:
    """Body of every Ray task: the unit with a no-op progress reporter."""
    return fn(*args, progress=_noop)


def check_address(address: str) -> None:
    """Check that a Ray head answers at ``address`` (``host:port``, ``ray://host:port`` or ``auto``).

    ConfigError (exit 2) naming the address when it is malformed or nothing accepts a connection,
    before Ray would retry for a minute.
    """
    if address in ("auto", "local"):
        return
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            f"--address {address!r}: expected HOST:PORT of a Ray head (e.g. 10.0.0.5:6379), "
            "ray://HOST:PORT or auto"
        )
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        raise ConfigError(
            f"--address {address!r}: no Ray cluster answers at {host}:{port} ({exc.strerror or exc}); "
            "start one with `ray start --head` or omit --address for a local cluster"
        ) from None


def connect(address: str | None = None, num_cpus: int | None = None) -> Any:
    """Join the cluster at ``address``, or start a local one with ``num_cpus`` (default: all cores).

    Reuses a connection this process already has. Ray's own logging is kept to errors, usage
    statistics are off (no network at run time) and the dashboard is not started.
    """
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--executor ray: Ray is not installed; install the extra: pip install 'stocklab[ray]'"
        ) from None
    if address is not None:
        check_address(address)
    if ray.is_initialized():
        return ray
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    kwargs: dict[str, Any] = {
        "logging_level": logging.ERROR,
        "log_to_driver": False,
        "include_dashboard": False,
        "configure_logging": True,
    }
    if address is None:
        kwargs["num_cpus"] = num_cpus or os.cpu_count() or 1
    try:
        ray.init(address=address, **kwargs)
    except Exception as exc:  # noqa: BLE001 - Ray raises many types for an unusable cluster
        where = (
            "could not start a local Ray cluster"
            if address is None
            else f"--address {address!r}: could not join"
        )
        raise ConfigError(f"{where}: {type(exc).__name__}: {exc}") from None
    return ray


class RayExecutor:
    """Runs each unit as a Ray task (the same interface as :class:`.executors.LocalExecutor`)."""

    inline = False

    def __init__(self, board: ProgressBoard, address: str | None = None, num_cpus: int | None = None):
        self.board = board
        self.ray = connect(address, num_cpus)
        self.jobs = max(1, int(self.ray.cluster_resources().get("CPU", 1)))
        # Ray retries a task whose worker died; a unit that raised is retried here, not by Ray, whose
        # own retry notice prints the worker's traceback on the user's terminal.
        self._task = self.ray.remote(num_cpus=UNIT_CPUS, max_retries=UNIT_RETRIES, retry_exceptions=False)(
            _run_unit
        )
        self._shared: dict[int, tuple[Any, Any]] = {}  # id(obj) -> (obj, ObjectRef): put once
        self._refs: dict[Future, Any] = {}
        _LIVE.add(self)

    def _share(self, arg: Any) -> Any:
        """``arg`` itself when small, else its object-store reference (put on first use)."""
        if isinstance(arg, _INLINE):
            return arg
        entry = self._shared.get(id(arg))
        if entry is None or entry[0] is not arg:
            entry = (arg, self.ray.put(arg))  # keeping ``arg`` keeps its id unique
            self._shared[id(arg)] = entry
        return entry[1]

    def submit(self, key: Hashable, fn: Callable[..., Any], *args: Any, tick: bool = False) -> Future:
        """Start ``fn(*args)`` as a Ray task; its future raises :class:`UnitFailed` naming ``key``.

        A unit that raises is started once more (``UNIT_RETRIES``) before it fails.
        """
        if CANCELLED.is_set():
            raise UnitFailed(f"{unit_label(key)} was not started: the sweep was cancelled")
        shared = [self._share(a) for a in args]
        outer: Future = Future()

        def start(attempt: int) -> None:
            ref = self._task.remote(fn, *shared)
            self._refs[outer] = ref
            ref.future().add_done_callback(lambda inner: settle(inner, attempt))

        def settle(inner: Future, attempt: int) -> None:
            try:
                result = inner.result()
            except BaseException as exc:  # noqa: BLE001 - retried, then the unit's named failure
                cause = getattr(exc, "cause", None) or exc
                what = type(cause).__name__
                cancelled = "Cancelled" in what or CANCELLED.is_set() or outer not in self._refs
                if not cancelled and attempt < UNIT_RETRIES:
                    start(attempt + 1)
                    return
                self._refs.pop(outer, None)
                told = "was cancelled" if cancelled else f"failed on {attempt + 1} attempts"
                outer.set_exception(UnitFailed(f"{unit_label(key)} {told}: {what}: {cause}"))
                return
            self._refs.pop(outer, None)
            outer.set_result(result)

        start(0)
        return outer

    def wait(self, futures: list[Future], timeout: float = 0.2) -> set[Future]:
        """The futures among ``futures`` that finished within ``timeout`` seconds."""
        done, _ = wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)
        return set(done)

    def shutdown(self) -> None:
        """Nothing to wait for: a local cluster ends with this process, a joined one keeps running."""

    def stop(self) -> None:
        """Cancel every unfinished task (Ctrl-C, or a unit failed); finished units are on disk."""
        for ref in list(self._refs.values()):
            try:
                self.ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001,S110 - already finished or gone
                pass
        self._refs.clear()


def cancel_all() -> None:
    """Cancel the unfinished tasks of every Ray executor of this process (Ctrl-C during a sweep)."""
    CANCELLED.set()
    for executor in list(_LIVE):
        executor.stop()
