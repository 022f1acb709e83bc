"""What the decision service tells its operators: Prometheus metrics, request ids, JSON access logs.

Metrics (``GET /metrics``, Prometheus text format; names follow ``<app>_<thing>_<unit>``):

- ``stocklab_http_requests_total{method, path, status}`` and
  ``stocklab_http_request_duration_seconds{path}`` (histogram, from the request's start to its last
  response byte handed to the server);
- ``stocklab_http_errors_total{status}``: responses with status >= 400;
- ``stocklab_http_timeouts_total{phase}``: connections cut off by the header or body deadline;
- ``stocklab_decisions_total``, ``stocklab_decide_duration_seconds`` (histogram: body received to
  answer ready, network excluded) and ``stocklab_decide_batch_states`` (histogram of batch sizes);
- ``stocklab_decision_log_errors_total``: decisions refused because the log could not be written;
- ``stocklab_policy_info{policy, kind, artefact, sha256, format_version}`` = 1: which policy and
  which version of it (the manifest checksum) this service decides with.

With several worker processes (``--workers N``) every worker writes its samples to files in
``PROMETHEUS_MULTIPROC_DIR`` and any worker's ``/metrics`` reports the sum over all of them.

Every response carries an ``X-Request-ID`` (the client's, when it sends a sane one), which the access
log and the decision log repeat. The access log writes one JSON object per request on stderr
(``"logger": "stocklab.access"``); the service's own messages and uvicorn's are JSON lines too.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic_core import to_json

#: Routes reported by name in metrics; anything else is "other" (bounded label cardinality).
ROUTES = frozenset({"/decide", "/health", "/policy", "/metrics", "/openapi.json", "/docs", "/redoc"})
#: Latency buckets (s): fine below 10 ms, where a healthy service answers.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 5, 10, 50, 100, 500, 1000, 5000, 10000)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

service_logger = logging.getLogger("stocklab.service")


class AccessLog:
    """One JSON line per request on a file descriptor (stderr by default), in a single ``write``.

    Not the ``logging`` module: its per-record machinery costs more than the request it records.
    """

    def __init__(self, enabled: bool = True, fd: int = 2) -> None:
        self.enabled, self.fd, self.pid = enabled, fd, os.getpid()
        self._second, self._stamp = -1, ""

    def _now(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:  # format the date once a second
            self._second, self._stamp = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._stamp}.{int((now - second) * 1000):03d}Z"

    def write(self, fields: dict[str, Any]) -> None:
        """Write one record (with the time and ``logger: stocklab.access``) if the log is enabled."""
        if self.enabled:
            line = to_json({"time": self._now(), "level": "info", "logger": "stocklab.access", "pid": self.pid,
                            **fields})  # fmt: skip
            try:
                os.write(self.fd, line + b"\n")
            except OSError:
                pass  # a closed or full stderr must not fail the request it records


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger and either the record's fields or its text."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one line of JSON."""
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            data.update(fields)
        else:
            data["message"] = record.getMessage()
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def configure_logging() -> None:
    """Send the service's and uvicorn's own logs to stderr as JSON lines (once per process)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("stocklab.service", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(getattr(h, "_stocklab", False) for h in logger.handlers):
            handler._stocklab = True  # type: ignore[attr-defined]
            logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


class ServiceMetrics:
    """The service's Prometheus metrics (one registry per app; multi-process aware)."""

    def __init__(self, policy_labels: dict[str, str]) -> None:
        disable_created_metrics()  # no *_created series: they double the exposition for no use here
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        # In multi-process mode the samples live in files; metrics are not registered anywhere and
        # the exposition registry reads every worker's files.
        reg = None if self.multiprocess else CollectorRegistry()
        self.registry = reg
        self.requests = Counter("stocklab_http_requests", "HTTP requests answered.",
                                ["method", "path", "status"], registry=reg)  # fmt: skip
        self.duration = Histogram("stocklab_http_request_duration_seconds", "Time to answer a request.",
                                  ["path"], buckets=LATENCY_BUCKETS, registry=reg)  # fmt: skip
        self.errors = Counter("stocklab_http_errors", "Responses with a 4xx or 5xx status.", ["status"],
                              registry=reg)  # fmt: skip
        self.timeouts = Counter("stocklab_http_timeouts", "Connections cut off by a read deadline.",
                                ["phase"], registry=reg)  # fmt: skip
        self.decisions = Counter("stocklab_decisions", "Orders decided.", registry=reg)
        self.decide_duration = Histogram(
            "stocklab_decide_duration_seconds", "Time inside the service per /decide (body in to answer ready).",
            buckets=LATENCY_BUCKETS, registry=reg,
        )  # fmt: skip
        self.batch = Histogram("stocklab_decide_batch_states", "States per /decide request.",
                               buckets=BATCH_BUCKETS, registry=reg)  # fmt: skip
        self.log_errors = Counter("stocklab_decision_log_errors", "Decisions refused: log not writable.",
                                  registry=reg)  # fmt: skip
        self.policy = Gauge("stocklab_policy_info", "The policy this service decides with (value 1).",
                            list(policy_labels), registry=reg, multiprocess_mode="max")  # fmt: skip
        self.policy.labels(**policy_labels).set(1)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST  # type: ignore[arg-type]

    def timeout(self, phase: str) -> None:
        """Count a connection cut off by the header or body deadline."""
        self.timeouts.labels(phase=phase).inc()
        self.errors.labels(status="408").inc()


def request_id(scope: dict[str, Any]) -> str:
    """The client's ``X-Request-ID`` if it is short and plain, else a new random id."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _REQUEST_ID.match(text):
                return text
    return os.urandom(12).hex()


class Observe:
    """ASGI middleware: request id, metrics and one access-log line per HTTP request."""

    def __init__(self, app: Any, metrics: ServiceMetrics, access: AccessLog) -> None:
        self.app = app
        self.metrics = metrics
        self.access = access
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Serve the request through the wrapped app, timing and counting it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        rid = request_id(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        status = 500
        header = (b"x-request-id", rid.encode("ascii"))

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._account(scope, state, rid, status, time.perf_counter() - start)

    def _account(
        self, scope: dict[str, Any], state: dict[str, Any], rid: str, status: int, seconds: float
    ) -> None:
        path = scope["path"] if scope["path"] in ROUTES else "other"
        key = (scope["method"], path, status)
        children = self._children.get(key)
        if children is None:  # label lookups are slow; keep each combination's children
            m, code = self.metrics, str(status)
            children = self._children[key] = (
                m.requests.labels(method=scope["method"], path=path, status=code),
                m.duration.labels(path=path),
                m.errors.labels(status=code) if status >= 400 else None,
            )
        children[0].inc()
        children[1].observe(seconds)
        if children[2] is not None:
            children[2].inc()
        if self.access.enabled:
            client = scope.get("client")
            fields = {
                "event": "request", "request_id": rid, "method": scope["method"], "path": scope["path"][:200],
                "status": status, "duration_ms": round(seconds * 1e3, 3),
                "client": f"{client[0]}:{client[1]}" if client else None,
                "decisions": state.get("decisions", 0),
            }  # fmt: skip
            self.access.write(fields)
