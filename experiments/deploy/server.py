"""Start the decision service: check everything first, bind the socket, then run uvicorn (1..N workers).

Startup refuses, with one StocklabError (the CLI prints it and exits 2), an artefact that does not
verify, a decision-log path that cannot be written (or lies inside the sealed artefact) and an
address it cannot listen on; nothing is served until all three are settled. The socket is bound here,
before uvicorn starts, so ``--port 0`` can announce the port it got, and the same socket is handed to
every worker process.
"""

from __future__ import annotations

import functools
import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.supervisors.multiprocess import Multiprocess

from stocklab.envs.core.errors import ConfigError
from stocklab.experiments.deploy.decision_log import DecisionLog
from stocklab.experiments.deploy.observe import configure_logging
from stocklab.experiments.deploy.protocol import GuardedHttpToolsProtocol, ReadLimits
from stocklab.experiments.deploy.runtime import DeployedPolicy, load_deployed
from stocklab.experiments.deploy.service import create_app
from stocklab.experiments.deploy.settings import ENV_VAR, ServeSettings

#: Import string of the app factory that ``--workers`` processes run.
APP_FACTORY = "stocklab.experiments.deploy.server:app_from_environment"


def open_log(settings: ServeSettings) -> DecisionLog:
    """The decision log of ``settings``; ConfigError if it cannot be written or is inside the artefact."""
    path = Path(settings.log).expanduser().resolve()
    artefact = Path(settings.policy_dir).expanduser().resolve()
    if path == artefact or artefact in path.parents:
        raise ConfigError(
            f"decision log {settings.log}: inside the policy artefact {settings.policy_dir}, which is "
            "sealed by its checksums; pass --log with a path outside it (default: ./decisions.jsonl)"
        )
    return DecisionLog(path, settings.log_max_bytes, settings.log_backups)


def prepare(settings: ServeSettings) -> tuple[DeployedPolicy, DecisionLog]:
    """Load and verify the artefact and open the decision log (StocklabError says what is wrong)."""
    from stocklab.experiments.deploy.signing import load_key

    key = load_key(settings.key_file)
    policy = load_deployed(settings.policy_dir, key=key, require_signature=settings.require_signature)
    return policy, open_log(settings)


def bind(settings: ServeSettings) -> socket.socket:
    """A listening TCP socket on ``settings.host:port``; ConfigError if that is impossible."""
    where = f"{settings.host}:{settings.port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            settings.host, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ConfigError(f"serve: cannot resolve host {settings.host!r} ({exc.strerror})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(settings.backlog)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"serve: cannot listen on {where} ({exc.strerror or exc})") from None
    sock.set_inheritable(True)
    return sock


def uvicorn_config(settings: ServeSettings, app: Any) -> uvicorn.Config:
    """Uvicorn's settings: our guarded protocol, no websockets, our JSON logs, the limits."""
    limits = ReadLimits(header_timeout=settings.header_timeout, body_timeout=settings.body_timeout)
    return uvicorn.Config(
        app,
        factory=isinstance(app, str),
        http=functools.partial(GuardedHttpToolsProtocol, limits=limits),  # type: ignore[arg-type]
        ws="none",
        lifespan="on",
        access_log=False,
        log_config=None,
        timeout_keep_alive=settings.keep_alive_timeout,
        backlog=settings.backlog,
        limit_concurrency=settings.max_connections,
        workers=settings.workers,
        timeout_graceful_shutdown=5,
        server_header=False,
    )


def app_from_environment() -> Any:
    """The app of one ``--workers`` process, built from the settings its parent put in the environment."""
    settings = ServeSettings.from_env()
    configure_logging()
    policy, log = prepare(settings)
    return create_app(policy, log, settings)


def serve(settings: ServeSettings, announce: Callable[[DeployedPolicy, str], None]) -> None:
    """Check, bind, call ``announce(policy, url)`` and serve until SIGINT/SIGTERM."""
    policy, log = prepare(settings)
    sock = bind(settings)
    host, port = sock.getsockname()[:2]
    announce(policy, f"http://{f'[{host}]' if ':' in host else host}:{port}")
    if settings.workers == 1:
        configure_logging()
        app = create_app(policy, log, settings)
        try:
            uvicorn.Server(uvicorn_config(settings, app)).run(sockets=[sock])
        finally:
            log.close()
            sock.close()
        return
    log.close()  # each worker opens its own descriptors; the lock file keeps them apart
    with tempfile.TemporaryDirectory(prefix="stocklab-metrics-") as tmp:
        os.environ[ENV_VAR] = settings.to_env()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tmp
        configure_logging()
        try:
            Multiprocess(uvicorn_config(settings, APP_FACTORY), sockets=[sock]).run()
        finally:
            sock.close()
