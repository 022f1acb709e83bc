"""``stocklab serve``: an HTTP JSON decision service over an exported policy (standard library only).

Endpoints: ``POST /decide`` with ``{"state": {...}}`` or ``{"states": [{...}, ...]}`` answers
``{"order": n}`` or ``{"orders": [...]}``; ``GET /health``; ``GET /policy`` (the manifest). Requests
are validated (missing field, wrong type, negative stock, wrong pipeline length, oversized body) and
answered 4xx with a message naming the problem. Every decision is appended with its inputs to a JSONL
decision log, the raw material of monitoring.
"""

from __future__ import annotations

import json
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from stocklab.envs.core.errors import PolicyError
from stocklab.experiments.deploy.runtime import DeployedPolicy

#: Largest request body accepted (bytes); larger requests get 413.
MAX_BODY = 1 << 20
#: Most states in one request.
MAX_STATES = 10_000


class DecisionLog:
    """Append-only JSONL log of decisions; one line per decision, flushed as written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def write(self, states: list[dict[str, Any]], orders: list[int], policy: str) -> None:
        """Append one line per decision: the time (s since the epoch), the policy, the state and its order."""
        now = time.time()
        lines = "".join(
            json.dumps({"time": now, "policy": policy, "state": s, "order": o}) + "\n"
            for s, o in zip(states, orders)
        )
        with self._lock, self.path.open("a", encoding="utf-8") as f:
            f.write(lines)


class BadRequest(Exception):
    """A request the service refuses, with its HTTP status."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_decide(body: bytes) -> tuple[list[dict[str, Any]], bool]:
    """The states of a /decide body and whether it was a batch; BadRequest on malformed input."""
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(HTTPStatus.BAD_REQUEST, f"body is not valid JSON ({exc.msg})") from None
    if not isinstance(payload, dict) or ("state" in payload) == ("states" in payload):
        raise BadRequest(HTTPStatus.BAD_REQUEST, 'body must be {"state": {...}} or {"states": [{...}, ...]}')
    if "state" in payload:
        return [payload["state"]], False
    states = payload["states"]
    if not isinstance(states, list) or not states:
        raise BadRequest(HTTPStatus.BAD_REQUEST, "states: expected a non-empty list of state objects")
    if len(states) > MAX_STATES:
        raise BadRequest(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"states: at most {MAX_STATES} per request")
    return states, True


def make_handler(policy: DeployedPolicy, log: DecisionLog) -> type[BaseHTTPRequestHandler]:
    """The request handler class bound to one policy and one decision log."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "stocklab"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep stderr quiet
            pass

        def _send(self, status: HTTPStatus, data: Any) -> None:
            body = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path == "/health":
                self._send(HTTPStatus.OK, {"status": "ok", "policy": policy.name})
            elif self.path == "/policy":
                self._send(HTTPStatus.OK, policy.manifest)
            else:
                self._send(
                    HTTPStatus.NOT_FOUND, {"error": f"no endpoint {self.path}; try /decide, /health, /policy"}
                )

        def do_POST(self) -> None:  # noqa: N802
            if self.path != "/decide":
                self._send(HTTPStatus.NOT_FOUND, {"error": f"no endpoint {self.path}; POST /decide"})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    raise BadRequest(
                        HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body of {length} bytes exceeds {MAX_BODY}"
                    )
                if length <= 0:
                    raise BadRequest(HTTPStatus.BAD_REQUEST, "empty body; send JSON with Content-Length")
                states, batch = parse_decide(self.rfile.read(length))
                try:
                    orders = policy.decide_batch(states)
                except PolicyError as exc:
                    raise BadRequest(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc)) from None
            except BadRequest as exc:
                self._send(exc.status, {"error": str(exc)})
                return
            log.write(states, orders, policy.name)
            self._send(HTTPStatus.OK, {"orders": orders} if batch else {"order": orders[0]})

    return Handler


def make_server(policy: DeployedPolicy, host: str, port: int, log_path: Path) -> ThreadingHTTPServer:
    """A ready-to-serve HTTP server (port 0 picks a free port: see ``server.server_address``)."""
    server = ThreadingHTTPServer((host, port), make_handler(policy, DecisionLog(log_path)))
    server.daemon_threads = True
    return server
