"""``stocklab serve``: the decision service, an ASGI app (FastAPI) run by uvicorn, over an exported policy.

Endpoints (``/docs`` and ``/openapi.json`` describe them; the request models come from the artefact's
ObsSpec, see :mod:`stocklab.experiments.deploy.schema`):

- ``POST /decide`` with ``{"state": {...}}`` answers ``{"order": n, "request_id": ...}``; with
  ``{"states": [{...}, ...]}`` (a batch, e.g. one state per SKU) ``{"orders": [...], ...}``
  (:mod:`stocklab.experiments.deploy.decide`);
- ``GET /health``, ``GET /policy`` (the artefact's manifest), ``GET /metrics`` (Prometheus,
  :mod:`stocklab.experiments.deploy.observe`).

Every refusal is JSON ``{"error": message, "fields": [...]}`` with a 4xx status (503 when the
decision log cannot be written); every response carries an ``X-Request-ID``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from stocklab.experiments.deploy.decide import JSON, DecideEndpoint
from stocklab.experiments.deploy.decision_log import DecisionLog
from stocklab.experiments.deploy.observe import AccessLog, Observe, ServiceMetrics, service_logger
from stocklab.experiments.deploy.runtime import DeployedPolicy
from stocklab.experiments.deploy.schema import REF, Health, Models
from stocklab.experiments.deploy.settings import ServeSettings

#: Documented refusals of POST /decide.
DECIDE_ERRORS = {
    400: "Body is not JSON (or the HTTP request is malformed).",
    405: "Any method but POST.",
    408: "The body did not arrive within the body timeout.",
    413: "Body larger than the body limit, or more states than the batch limit.",
    415: "Content-Type is not application/json.",
    422: "A state member is missing, unknown, not a number or out of its range.",
    503: "The decision log cannot be written; no decision was made.",
}


def policy_labels(policy: DeployedPolicy) -> dict[str, str]:
    """Labels that identify the served policy and its version (for metrics and /health)."""
    m = policy.manifest
    return {
        "policy": policy.name,
        "kind": str(m["policy"].get("kind")),
        "artefact": str(m["artefact"]),
        "sha256": str(m["manifest_sha256"]),
        "format_version": str(m["format_version"]),
    }


def decide_operation(models: Models) -> dict[str, Any]:
    """The OpenAPI operation of ``POST /decide``."""
    ok = {"oneOf": [{"$ref": REF + "Decision"}, {"$ref": REF + "Decisions"}]}
    error = {JSON: {"schema": {"$ref": REF + "ErrorBody"}}}
    responses: dict[str, Any] = {
        "200": {"description": "The order (one state) or the orders (a batch, in order).",
                "content": {JSON: {"schema": ok}}},
    }  # fmt: skip
    responses.update({str(s): {"description": text, "content": error} for s, text in DECIDE_ERRORS.items()})
    return {
        "summary": "Decide the order of one state, or of a batch of states",
        "description": "Every decision is appended to the decision log before it is answered.",
        "operationId": "decide",
        "requestBody": models.request_schema(),
        "responses": responses,
    }


class Routes:
    """ASGI dispatch: ``/decide`` straight to its endpoint, every other path to the FastAPI app."""

    def __init__(self, decide: DecideEndpoint, app: FastAPI) -> None:
        self.decide, self.app = decide, app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Dispatch one ASGI event."""
        if scope["type"] == "http" and scope["path"] == "/decide":
            await self.decide(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "fields": []}, status_code=status, headers=headers)


def _add_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        rid = request.scope.get("state", {}).get("request_id", "")
        service_logger.error("", exc_info=exc, extra={"fields": {"event": "crash", "request_id": rid}})
        return _error(500, f"internal error (request id {rid}); the server log has the details")


def create_app(policy: DeployedPolicy, log: DecisionLog, settings: ServeSettings) -> Any:
    """The ASGI application serving ``policy`` and appending its decisions to ``log``."""
    labels = policy_labels(policy)
    metrics = ServiceMetrics(labels)
    decide = DecideEndpoint(policy, log, metrics, settings)
    access = AccessLog(settings.access_log)

    def on_timeout(phase: str) -> None:
        metrics.timeout(phase)
        access.write({"event": "timeout", "phase": phase, "status": 408})

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        yield {"stocklab_on_timeout": on_timeout}  # called by the guarded protocol on a deadline

    app = FastAPI(
        title=f"stocklab decision service: {policy.name}",
        version=labels["sha256"][:12],
        description=f"Orders from the exported policy {policy.name!r} ({labels['artefact']} artefact, "
        f"kind {labels['kind']}, manifest SHA-256 {labels['sha256']}).",
        lifespan=lifespan,
    )

    @app.get("/health", response_model=Health, summary="Liveness and the policy's version")
    async def health() -> dict[str, str]:
        return {"status": "ok", "policy": policy.name, "policy_sha256": labels["sha256"]}

    @app.get("/policy", summary="The artefact's manifest: ObsSpec, action, env config, checksums")
    async def manifest() -> dict[str, Any]:
        return policy.manifest

    @app.get("/metrics", summary="Prometheus metrics (text exposition format)", response_class=Response,
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})  # fmt: skip
    async def prometheus() -> Response:
        data, content_type = metrics.render()
        return Response(data, media_type=content_type)

    _add_handlers(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)  # fmt: skip
            schema.setdefault("components", {}).setdefault("schemas", {}).update(decide.models.components())
            schema["paths"] = {"/decide": {"post": decide_operation(decide.models)}, **schema["paths"]}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return Observe(Routes(decide, app), metrics, access)
