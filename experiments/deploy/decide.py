"""``POST /decide`` as a plain ASGI endpoint: read, check, decide, log, answer.

It is the service's hot path, so it skips the web framework's per-request machinery (request objects,
dependency solving, response classes) and speaks ASGI directly; the framework still documents it
(the OpenAPI operation is built from the same models, see :mod:`stocklab.experiments.deploy.service`).

Steps: the content type must be JSON (415); the body is read within ``body_timeout`` (408) and
``max_body`` bytes (413); one JSON pass validates it against the artefact's models (400 not JSON,
413 too many states, 422 naming every bad member); the policy decides; the decisions are appended to
the decision log (503 if that fails: no decision leaves the service unlogged); the answer carries the
request id and ``Server-Timing: decide;dur=<ms>`` (from the whole body received to the answer ready).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import numpy as np
import pydantic_core
from pydantic import ValidationError
from pydantic_core import to_json

from stocklab.envs.core.errors import PolicyError
from stocklab.experiments.deploy.decision_log import DecisionLog
from stocklab.experiments.deploy.observe import ServiceMetrics, service_logger
from stocklab.experiments.deploy.runtime import DeployedPolicy
from stocklab.experiments.deploy.schema import Models, describe, observation_matrix
from stocklab.experiments.deploy.settings import ServeSettings

JSON = "application/json"
#: The first member of a well-formed body: "state" (one) or "states" (a batch).
_FIRST_KEY = re.compile(rb'\s*\{\s*"(states?)"\s*:')
_NULL = b"null"
#: One element of a JSON list of strings and nulls (a string: quotes around escapes or other bytes).
_JSON_ITEM = re.compile(rb'null|"(?:[^"\\]|\\.)*"')
#: Below this many states the per-state ObsSpec conversion is cheaper than the columnar one.
_COLUMNAR_FROM = 16


class Refused(Exception):
    """A request answered with a 4xx/5xx status and a JSON ``{"error", "fields"}`` body."""

    def __init__(self, status: int, message: str, fields: list[str] | None = None, close: bool = False):
        super().__init__(message)
        self.status, self.fields, self.close = status, fields or [], close


class Disconnected(Exception):
    """The client went away before its request was read; nobody is left to answer."""


def content_type_ok(value: str) -> bool:
    """Whether a Content-Type header names JSON (``application/json`` or ``application/*+json``)."""
    media = value.split(";", 1)[0].strip().lower()
    return media == JSON or (media.startswith("application/") and media.endswith("+json"))


class DecideEndpoint:
    """The ASGI app of ``POST /decide`` for one policy, one decision log and one set of metrics."""

    def __init__(self, policy: DeployedPolicy, log: DecisionLog, metrics: ServiceMetrics, s: ServeSettings):
        self.policy, self.log, self.metrics, self.settings = policy, log, metrics, s
        #: A catalogue policy decides for all its SKUs in one batch, and may carry a memory.
        self.catalogue = not isinstance(policy, DeployedPolicy)
        size = getattr(policy, "size", 0)
        self.models = Models(policy.obs_spec, max(s.max_states, size), memory=self.catalogue)
        self.sha256 = str(policy.manifest["manifest_sha256"])

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Answer one request (any method: anything but POST gets 405)."""
        state = scope.setdefault("state", {})
        try:
            if scope["method"] != "POST":
                raise Refused(405, f"method {scope['method']} not allowed on /decide; use POST")
            body = await self._read_body(scope, receive)
            received = time.perf_counter()
            states, batch, memory = self.parse(body)
            orders, extra = self.decide_catalogue(states, batch, memory) if self.catalogue else (
                self.decide(states), {})  # fmt: skip
            rid = state.get("request_id", "")
            self.write_log(rid, states, orders)
        except Refused as exc:
            await _send_error(send, exc)
            return
        except Disconnected:
            return
        seconds = time.perf_counter() - received
        self.metrics.decisions.inc(len(orders))
        self.metrics.decide_duration.observe(seconds)
        self.metrics.batch.observe(len(orders))
        state["decisions"] = len(orders)
        answer = (
            {"orders": orders, **extra, "request_id": rid}
            if batch
            else {"order": orders[0], "request_id": rid}
        )
        headers = [(b"server-timing", b"decide;dur=%.3f" % (seconds * 1e3))]
        await _send(send, 200, to_json(answer), headers)

    async def _read_body(self, scope: dict[str, Any], receive: Any) -> bytes:
        limit, declared, ctype = self.settings.max_body, None, ""
        for name, value in scope["headers"]:
            if name == b"content-type":
                ctype = value.decode("latin-1")
            elif name == b"content-length":
                declared = value
        if not content_type_ok(ctype):
            raise Refused(415, f"Content-Type {ctype!r} is not supported; send the body as application/json")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise Refused(
                413, f"body of {int(declared)} bytes exceeds the limit of {limit} bytes", close=True
            )
        chunks, size = [], 0
        try:
            async with asyncio.timeout(self.settings.body_timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise Disconnected
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        raise Refused(413, f"body exceeds the limit of {limit} bytes", close=True)
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            self.metrics.timeouts.labels(phase="body").inc()
            raise Refused(
                408, f"the request body did not arrive within {self.settings.body_timeout:g} s", close=True
            ) from None
        if not size:
            raise Refused(400, 'empty body; send {"state": {...}} or {"states": [...]} as JSON')
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def parse(self, body: bytes) -> tuple[list[dict[str, Any]], bool, Any]:
        """The validated states of a body, whether it was a batch, and its memory (one JSON pass when well-formed)."""
        form = _FIRST_KEY.match(body)
        if form is None:  # not an object starting with "state"/"states": find out what is wrong
            try:
                data = pydantic_core.from_json(body, allow_inf_nan=False)
            except ValueError as exc:
                raise Refused(400, f"body is not valid JSON: {exc}") from None
            if not (self.catalogue and isinstance(data, dict) and "states" in data):  # memory may come first
                keys = f" (got keys {', '.join(map(repr, list(data)[:5]))})" if isinstance(data, dict) else ""
                raise Refused(422, f'body must be {{"state": {{...}}}} or {{"states": [{{...}}, ...]}}{keys}')
        batch = form is None or form.group(1) == b"states"
        try:
            if batch:
                request = self.models.batch.validate_json(body)
                return request["states"], True, request.get("memory")
            return [self.models.single.validate_json(body)["state"]], False, None
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            if first["type"] == "json_invalid":
                raise Refused(400, f"body is not valid JSON: {first['ctx']['error']}") from None
            if first["type"] == "too_long" and first["loc"] == ("states",):
                raise Refused(413, f"states: at most {self.settings.max_states} per request") from None
            raise Refused(422, *describe(exc)) from None

    def decide(self, states: list[dict[str, Any]]) -> list[int]:
        """Orders (units) for validated states; 422 if the runtime still refuses one."""
        spec = self.policy.obs_spec
        try:
            if len(states) >= _COLUMNAR_FROM:
                obs = observation_matrix(spec, states)
            else:
                obs = (
                    spec.vector(states[0])[None]
                    if len(states) == 1
                    else np.vstack([spec.vector(s) for s in states])
                )
            return self.policy.orders_from_observations(obs).tolist()  # type: ignore[no-any-return]
        except PolicyError as exc:
            raise Refused(422, str(exc)) from None

    def decide_catalogue(
        self, states: list[dict[str, Any]], batch: bool, memory: Any
    ) -> tuple[list[int], dict[str, Any]]:
        """Orders (units) of every SKU of a catalogue policy, and the answer's catalogue members; 422 if refused."""
        if not batch:
            raise Refused(422, f'{self.policy.name} is a catalogue policy: send {{"states": [...]}} with one '
                               f"state per SKU ({self.policy.size} SKUs), each with its sku")  # fmt: skip
        try:
            obs = observation_matrix(self.policy.obs_spec, states)
            decision = self.policy.decide_observations([s.get("sku") for s in states], obs, memory)
        except PolicyError as exc:
            raise Refused(422, str(exc)) from None
        extra = {"spent": decision.spent, "cut_by_budget": decision.cut_by_budget}
        if decision.memory is not None:
            extra["memory"] = decision.memory
        return decision.orders, extra

    def write_log(self, rid: str, states: list[dict[str, Any]], orders: list[int]) -> None:
        """Append one line per decision (``sku``/``period`` lifted out of the state); 503 if impossible."""
        head = to_json({"time": round(time.time(), 6), "request_id": rid, "policy": self.policy.name,
                        "policy_sha256": self.sha256})[:-1]  # fmt: skip
        skus = [s.pop("sku", None) for s in states]
        periods = [b"%d" % p if (p := s.pop("period", None)) is not None else _NULL for s in states]
        # Once sku and period are out, a state holds numbers and lists of numbers only, so "},{" can
        # only separate two states: one serialisation call for the whole batch, then a split. The
        # skus too: one call, then each element (null or a string) picked out by its JSON grammar.
        bodies = to_json(states)[2:-2].split(b"},{")
        sku_json = _JSON_ITEM.findall(to_json(skus))
        lines = [
            b'%s,"index":%d,"sku":%s,"period":%s,"state":{%s},"order":%d}'
            % (head, i, sku, period, body, order)
            for i, (sku, period, body, order) in enumerate(zip(sku_json, periods, bodies, orders))
        ]
        try:
            self.log.write_lines(b"\n".join(lines) + b"\n")
        except OSError as exc:
            self.metrics.log_errors.inc()
            service_logger.error("", extra={"fields": {"event": "decision_log_error", "error": str(exc)}})
            raise Refused(503, f"decision log {self.log.path} cannot be written ({exc.strerror or exc}); "
                               "no decision was made") from None  # fmt: skip


async def _send(send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    head = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)), *headers]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


async def _send_error(send: Any, exc: Refused) -> None:
    headers = [(b"connection", b"close")] if exc.close else []
    if exc.status == 405:
        headers.append((b"allow", b"POST"))
    await _send(send, exc.status, json.dumps({"error": str(exc), "fields": exc.fields}).encode(), headers)
