"""The decision service's settings (what ``stocklab serve`` options set), passed to worker processes.

Defaults are those of a service meant to sit on loopback behind a reverse proxy or a sidecar: read
deadlines of a few seconds, a 4 MiB body limit, at most 10,000 states per request.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
from dataclasses import dataclass

from stocklab.envs.core.errors import ConfigError
from stocklab.experiments.deploy.decision_log import BACKUPS, MAX_BYTES

#: Environment variable that carries the settings to ``--workers`` processes (JSON).
ENV_VAR = "STOCKLAB_SERVE_SETTINGS"


@dataclass(frozen=True)
class ServeSettings:
    """Everything ``stocklab serve`` configures (times in seconds, sizes in bytes)."""

    policy_dir: str
    log: str = "decisions.jsonl"
    log_max_bytes: int = MAX_BYTES
    log_backups: int = BACKUPS
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    header_timeout: float = 5.0
    body_timeout: float = 5.0
    keep_alive_timeout: int = 5
    max_body: int = 4 << 20
    max_states: int = 10_000
    backlog: int = 2048
    max_connections: int = 1000
    access_log: bool = True
    #: Signing key file (None: ``$STOCKLAB_SIGNING_KEY`` if set); a signed artefact must verify under it.
    key_file: str | None = None
    #: Refuse an artefact that is not signed (or cannot be verified for want of a key).
    require_signature: bool = False

    def __post_init__(self) -> None:
        positive = ("workers", "header_timeout", "body_timeout", "keep_alive_timeout", "max_body",
                    "max_states", "backlog", "max_connections")  # fmt: skip
        for name in positive:
            value = getattr(self, name)
            if not value > 0:
                raise ConfigError(f"serve: {name.replace('_', '-')} (={value}) must be > 0")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"serve: port (={self.port}) must be in 0..65535")

    @property
    def loopback(self) -> bool:
        """Whether the service listens on a loopback address only."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def to_env(self) -> str:
        """The settings as JSON (for :data:`ENV_VAR`)."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_env(cls) -> ServeSettings:
        """Settings from :data:`ENV_VAR` (set by the parent ``stocklab serve`` process)."""
        raw = os.environ.get(ENV_VAR)
        if not raw:
            raise ConfigError(f"{ENV_VAR} is not set: start the service with `stocklab serve`")
        return cls(**json.loads(raw))
